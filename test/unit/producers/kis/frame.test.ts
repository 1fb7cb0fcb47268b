import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../../../lib/errors.js';
import { kstToUtcMicros } from '../../../../lib/time.js';
import { parseDataFrame, reasonOf } from '../../../../producers/kis/frame.js';
import { readOrderBook, readTick } from '../../../../producers/kis/records.js';
import { BOOK_FIELDS, TRADE_FIELDS } from '../../../../producers/kis/trs.js';

/** The recorded H0STCNT0 frame of the reference (2023-03-24, 46 fields). */
const REAL = '0|H0STCNT0|001|005930^112616^62700^2^400^0.64^62700.41^62700^63000^62300^62700^62600^125^9694968^607878273600^25807^15918^-9889^93.01^4614191^4291558^1^0.45^63.03^090013^3^0^090646^5^-300^100741^2^400^20230324^20^N^71292^244009^2795345^2044512^0.16^5367918^180.61^0^^62700';

/** The same frame read field by field against the reference's table. */
const REAL_FIELDS: Record<(typeof TRADE_FIELDS)[number], string> = {
  MKSC_SHRN_ISCD: '005930', STCK_CNTG_HOUR: '112616', STCK_PRPR: '62700', PRDY_VRSS_SIGN: '2', PRDY_VRSS: '400',
  PRDY_CTRT: '0.64', WGHN_AVRG_STCK_PRC: '62700.41', STCK_OPRC: '62700', STCK_HGPR: '63000', STCK_LWPR: '62300',
  ASKP1: '62700', BIDP1: '62600', CNTG_VOL: '125', ACML_VOL: '9694968', ACML_TR_PBMN: '607878273600',
  SELN_CNTG_CSNU: '25807', SHNU_CNTG_CSNU: '15918', NTBY_CNTG_CSNU: '-9889', CTTR: '93.01', SELN_CNTG_SMTN: '4614191',
  SHNU_CNTG_SMTN: '4291558', CCLD_DVSN: '1', SHNU_RATE: '0.45', PRDY_VOL_VRSS_ACML_VOL_RATE: '63.03', OPRC_HOUR: '090013',
  OPRC_VRSS_PRPR_SIGN: '3', OPRC_VRSS_PRPR: '0', HGPR_HOUR: '090646', HGPR_VRSS_PRPR_SIGN: '5', HGPR_VRSS_PRPR: '-300',
  LWPR_HOUR: '100741', LWPR_VRSS_PRPR_SIGN: '2', LWPR_VRSS_PRPR: '400', BSOP_DATE: '20230324', NEW_MKOP_CLS_CODE: '20',
  TRHT_YN: 'N', ASKP_RSQN1: '71292', BIDP_RSQN1: '244009', TOTAL_ASKP_RSQN: '2795345', TOTAL_BIDP_RSQN: '2044512',
  VOL_TNRT: '0.16', PRDY_SMNS_HOUR_ACML_VOL: '5367918', PRDY_SMNS_HOUR_ACML_VOL_RATE: '180.61', HOUR_CLS_CODE: '0',
  MRKT_TRTM_CLS_CODE: '', VI_STND_PRC: '62700',
};

const noCipher = () => undefined;
const RECORD = REAL.split('|')[3] as string;
const INGEST = 1_679_624_776_500_000;

function withFields(record: string, over: Record<number, string>): string {
  const f = record.split('^');
  for (const [i, v] of Object.entries(over)) f[Number(i)] = v;
  return f.join('^');
}

test('the recorded H0STCNT0 frame parses to exactly the fields of the reference table', () => {
  const frame = parseDataFrame(REAL, noCipher);
  assert.equal(frame.trId, 'H0STCNT0');
  assert.equal(frame.count, 1);
  assert.equal(frame.width, 46);
  assert.equal(frame.encrypted, false);
  assert.equal(TRADE_FIELDS.length, 46);
  assert.deepEqual(Object.fromEntries(TRADE_FIELDS.map((name, i) => [name, frame.fields[i]])), REAL_FIELDS);
});

test('the recorded frame becomes this Tick: KST 2023-03-24 11:26:16 in UTC micros, sequence = ACML_VOL', () => {
  const frame = parseDataFrame(REAL, noCipher);
  const tick = readTick(frame.fields, 0, INGEST);
  assert.deepEqual(tick, {
    symbol: '005930',
    exchangeTime: Date.UTC(2023, 2, 24, 2, 26, 16) * 1000,
    ingestTime: INGEST,
    price: 62_700,
    quantity: 125,
    side: 'BUY',
    cumulativeVolume: 9_694_968,
    cumulativeValue: 607_878_273_600,
    sequence: 9_694_968,
    source: 'KIS',
    sessionCode: '20',
    halted: false,
    venue: 'KRX',
    marketSession: 'REGULAR', // the 46-field layout has no MARKET_CLS_CODE: NEW_MKOP_CLS_CODE 2x says regular
  });
  assert.equal(tick.exchangeTime, kstToUtcMicros('20230324', '112616'));
});

test('a batch of 4 records gives 4 ticks in order, with side, halt and session codes per record', () => {
  const records = [
    withFields(RECORD, { 1: '112616', 2: '62700', 12: '125', 13: '9694968', 21: '1' }),
    withFields(RECORD, { 1: '112616', 2: '62600', 12: '10', 13: '9694978', 21: '5' }),
    withFields(RECORD, { 1: '112617', 2: '62600', 12: '1', 13: '9694979', 21: '3', 34: '10' }),
    withFields(RECORD, { 1: '112618', 2: '62700', 12: '7', 13: '9694986', 21: '', 35: 'Y' }),
  ];
  const frame = parseDataFrame(`0|H0STCNT0|004|${records.join('^')}`, noCipher);
  assert.equal(frame.count, 4);
  const ticks = [0, 1, 2, 3].map((i) => readTick(frame.fields, i * frame.width, INGEST));
  assert.equal(ticks.length, 4);
  assert.deepEqual(ticks.map((t) => [t.price, t.quantity, t.sequence, t.side, t.sessionCode, t.halted]), [
    [62_700, 125, 9_694_968, 'BUY', '20', false],
    [62_600, 10, 9_694_978, 'SELL', '20', false],
    [62_600, 1, 9_694_979, 'AUCTION', '10', false],
    [62_700, 7, 9_694_986, 'UNKNOWN', '20', true],
  ]);
  assert.equal((ticks[2] as { exchangeTime: number }).exchangeTime - (ticks[0] as { exchangeTime: number }).exchangeTime, 1_000_000);
});

test('empty fields and negative numbers are kept as sent', () => {
  const frame = parseDataFrame(REAL, noCipher);
  assert.equal(frame.fields[TRADE_FIELDS.indexOf('MRKT_TRTM_CLS_CODE')], '');
  assert.equal(frame.fields[TRADE_FIELDS.indexOf('NTBY_CNTG_CSNU')], '-9889');
  assert.equal(frame.fields[TRADE_FIELDS.indexOf('HGPR_VRSS_PRPR')], '-300');
});

test('a grown layout announced by count (extra trailing fields) is read by position', () => {
  const wide = (r: string) => `${r}^EXTRA^^-5`; // 49 fields per record
  const second = withFields(RECORD, { 13: '9694970', 12: '2' });
  const frame = parseDataFrame(`0|H0STCNT0|002|${wide(RECORD)}^${wide(second)}`, noCipher);
  assert.equal(frame.width, 49);
  const ticks = [0, 1].map((i) => readTick(frame.fields, i * frame.width, INGEST));
  assert.deepEqual(ticks.map((t) => [t.symbol, t.quantity, t.sequence]), [['005930', 125, 9_694_968], ['005930', 2, 9_694_970]]);
});

test('frames that cannot be read fail with DECODE_FAILED and a reason', () => {
  const cases: Array<[string, string]> = [
    ['garbage', 'header'],
    ['2|H0STCNT0|001|x', 'header'],
    [`0|H0XXXXX0|001|${RECORD}`, 'unknown-tr'],
    [`0|H0STCNT0|0x1|${RECORD}`, 'count'],
    [`0|H0STCNT0|000|${RECORD}`, 'count'],
    [`0|H0STCNT0|002|${RECORD}`, 'width'], // 46 fields do not make 2 records
    [`0|H0STCNT0|001|${RECORD.split('^').slice(0, 45).join('^')}`, 'width'], // 45 < 46
    [`1|H0STCNT0|001|${Buffer.from('x').toString('base64')}`, 'decrypt'], // no ack key yet
  ];
  for (const [text, reason] of cases) {
    assert.throws(() => parseDataFrame(text, noCipher), (err: unknown) => isAppError(err, 'DECODE_FAILED') && reasonOf(err) === reason, `${text.slice(0, 30)} → ${reason}`);
  }
});

test('records with unreadable required fields are refused, naming the field', () => {
  const bad: Array<[Record<number, string>, RegExp]> = [
    [{ 2: '6l700' }, /STCK_PRPR/],
    [{ 2: '' }, /STCK_PRPR is empty/],
    [{ 1: '256161' }, /STCK_CNTG_HOUR/],
    [{ 33: '2023-03-24' }, /BSOP_DATE/],
    [{ 0: '5930' }, /MKSC_SHRN_ISCD/],
    [{ 12: '0' }, /quantity 0 must be positive/],
  ];
  for (const [over, message] of bad) {
    const f = withFields(RECORD, over).split('^');
    assert.throws(() => readTick(f, 0, INGEST), (err: unknown) => (isAppError(err, 'DECODE_FAILED') || isAppError(err, 'VALIDATION_FAILED')) && message.test(err.message), String(message));
  }
});

test('an H0STASP0 record becomes an OrderBook: 10 levels, totals, expected auction values, hour class code', () => {
  const asks = [62_800, 62_900, 63_000, 63_100, 63_200, 63_300, 63_400, 63_500, 63_600, 63_700];
  const bids = [62_700, 62_600, 62_500, 62_400, 62_300, 62_200, 62_100, 62_000, 61_900, 61_800];
  const askQ = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
  const bidQ = [11, 21, 31, 41, 51, 61, 71, 81, 91, 101];
  const values = ['005930', '090001', 'B', ...asks, ...bids, ...askQ, ...bidQ, 550, 560, 0, 0, 62_700, 1234, 1234, 0, '3', '0.00', 0, -15, 22, 0, 0, '0'].map(String);
  assert.equal(values.length, BOOK_FIELDS.length);
  const frame = parseDataFrame(`0|H0STASP0|001|${values.join('^')}`, noCipher);
  const book = readOrderBook(frame.fields, 0, '20260320', INGEST, () => 7);
  assert.deepEqual(book, {
    symbol: '005930',
    exchangeTime: kstToUtcMicros('20260320', '090001'),
    ingestTime: INGEST,
    askPrices: asks,
    askQuantities: askQ,
    bidPrices: bids,
    bidQuantities: bidQ,
    totalAskQuantity: 550,
    totalBidQuantity: 560,
    expectedPrice: 62_700,
    expectedQuantity: 1234,
    cumulativeVolume: 0,
    hourClassCode: 'B',
    sequence: 7,
    source: 'KIS',
    venue: 'KRX',
    marketSession: 'UNKNOWN', // the 59-field layout has no MARKET_CLS_CODE
  });
});
