import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../../../lib/errors.js';
import { isoToEpochDay } from '../../../../lib/time.js';
import { parseDataDay, parseKrxDate, parseKrxNumber, parseOpenApiDay, parseRows, parseStockHistory, toStock, LISTING_FIELDS } from '../../../../producers/krx/parse.js';

// Bodies written the way the reference (krx-data.md, pykrx's cassettes) records them.
const DAY_ROW = {
  ISU_SRT_CD: '060310', ISU_CD: 'KR7060310000', ISU_ABBRV: '3S', MKT_NM: 'KOSDAQ GLOBAL', SECT_TP_NM: '중견기업부',
  TDD_CLSPRC: '4,210', FLUC_TP_CD: '2', CMPPREVDD_PRC: '-15', FLUC_RT: '-0.36', TDD_OPNPRC: '4,250', TDD_HGPRC: '4,280',
  TDD_LWPRC: '4,200', ACC_TRDVOL: '216,215', ACC_TRDVAL: '910,274,405', MKTCAP: '204,311,125,380', LIST_SHRS: '48,529,958', MKT_ID: 'KSQ',
};
const HOLIDAY_ROW = { ...DAY_ROW, TDD_CLSPRC: '-', FLUC_TP_CD: '3', CMPPREVDD_PRC: '-', FLUC_RT: '-', TDD_OPNPRC: '-', TDD_HGPRC: '-', TDD_LWPRC: '-', ACC_TRDVOL: '-', ACC_TRDVAL: '-', MKTCAP: '-' };
const body = (rows: unknown[], container = 'OutBlock_1') => JSON.stringify({ [container]: rows, CURRENT_DATETIME: '2026.01.25 PM 08:27:25' });
const day = isoToEpochDay('2026-01-23');

const badResponse = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => isAppError(err, 'SOURCE_BAD_RESPONSE') && message.test((err as Error).message));

test('numbers: thousands separators, signs, decimals; `-` and empty mean no value; anything else is NaN', () => {
  assert.equal(parseKrxNumber('4,210'), 4210);
  assert.equal(parseKrxNumber('910,274,405'), 910_274_405);
  assert.equal(parseKrxNumber('-1,200'), -1200);
  assert.equal(parseKrxNumber('-0.66'), -0.66);
  assert.equal(parseKrxNumber('12.5'), 12.5);
  assert.equal(parseKrxNumber('0'), 0);
  assert.equal(parseKrxNumber('-'), null);
  assert.equal(parseKrxNumber(''), null);
  assert.ok(Number.isNaN(parseKrxNumber('무액면') as number));
  assert.ok(Number.isNaN(parseKrxNumber('1-2') as number));
  assert.ok(Number.isNaN(parseKrxNumber(',') as number));
});

test('dates: YYYY/MM/DD (data.krx.co.kr) and YYYYMMDD (Open API); an impossible date is a bad body', () => {
  assert.equal(parseKrxDate('2026/01/23'), day);
  assert.equal(parseKrxDate('20260123'), day);
  badResponse(() => parseKrxDate('2026/02/30'), /neither/);
  badResponse(() => parseKrxDate('2026.01.23'), /neither/);
});

test('MDCSTAT01501: rows under OutBlock_1 become bars; KOSDAQ GLOBAL is KOSDAQ', () => {
  const parsed = parseDataDay(body([DAY_ROW]), day, 1);
  assert.equal(parsed.holiday, false);
  assert.deepEqual(parsed.bars, [{
    code: '060310', date: day, market: 'KOSDAQ', name: '3S', open: 4250, high: 4280, low: 4200, close: 4210, change: -15, changeRate: -0.36,
    volume: 216_215, tradedValue: 910_274_405, marketCap: 204_311_125_380, listedShares: 48_529_958, source: 'KRX_DATA', ingestTime: 1,
  }]);
});

test('a holiday comes from the data: every close is `-`; some `-` on a trading day is a bad body', () => {
  assert.deepEqual(parseDataDay(body([HOLIDAY_ROW, HOLIDAY_ROW]), day, 1), { date: day, holiday: true, bars: [] });
  badResponse(() => parseDataDay(body([DAY_ROW, HOLIDAY_ROW]), day, 1), /1 of 2 rows have no close/);
});

test('MDCSTAT01701: rows under `output` (not OutBlock_1), newest first, come back oldest first', () => {
  const { ISU_SRT_CD: _a, ISU_CD: _b, ISU_ABBRV: _c, MKT_NM: _d, SECT_TP_NM: _e, MKT_ID: _f, ...history } = DAY_ROW;
  const rows = [{ ...history, TRD_DD: '2026/01/23' }, { ...history, TRD_DD: '2026/01/22', TDD_CLSPRC: '4,225' }];
  const bars = parseStockHistory(body(rows, 'output'), '060310', '3S', 'KOSDAQ', 1);
  assert.deepEqual(bars.map((b) => [b.date, b.close]), [[day - 1, 4225], [day, 4210]]);
  badResponse(() => parseStockHistory(body(rows, 'OutBlock_1'), '060310', '3S', 'KOSDAQ', 1), /no output array/);
});

test('Open API: ISU_CD is the 6-digit code, no separators, BAS_DD YYYYMMDD; no rows is a day without trading', () => {
  const row = { BAS_DD: '20260123', ISU_CD: '005930', ISU_NM: '삼성전자', MKT_NM: 'KOSPI', SECT_TP_NM: '', TDD_CLSPRC: '61000', CMPPREVDD_PRC: '500', FLUC_RT: '0.83', TDD_OPNPRC: '60500', TDD_HGPRC: '61200', TDD_LWPRC: '60400', ACC_TRDVOL: '15000000', ACC_TRDVAL: '913500000000', MKTCAP: '364000000000000', LIST_SHRS: '5969782550' };
  const parsed = parseOpenApiDay(JSON.stringify({ OutBlock_1: [row] }), day, 1);
  assert.equal(parsed.bars[0]?.code, '005930');
  assert.equal(parsed.bars[0]?.tradedValue, 913_500_000_000);
  assert.equal(parsed.bars[0]?.source, 'KRX_OPENAPI');
  assert.deepEqual(parseOpenApiDay('{"OutBlock_1":[]}', day, 1), { date: day, holiday: true, bars: [] });
  badResponse(() => parseOpenApiDay(JSON.stringify({ OutBlock_1: [{ ...row, BAS_DD: '20260122' }] }), day, 1), /not the requested day/);
});

test('bad bodies: an HTML page, truncated JSON, a changed field set, a field that is not a number', () => {
  badResponse(() => parseDataDay('<!DOCTYPE html><html><body>점검</body></html>', day, 1), /HTML page/);
  const full = body([DAY_ROW]);
  badResponse(() => parseDataDay(full.slice(0, full.length / 2), day, 1), /not JSON/);
  badResponse(() => parseDataDay(full.replace('"TDD_CLSPRC"', '"TDD_CLSPRC_NEW"'), day, 1), /without field TDD_CLSPRC: the format changed/);
  badResponse(() => parseDataDay(body([{ ...DAY_ROW, ACC_TRDVOL: 'n/a' }]), day, 1), /ACC_TRDVOL is "n\/a"/);
  badResponse(() => parseDataDay('LOGOUT', day, 1), /not JSON/);
});

test('MDCSTAT01901 listings: 무액면 is a null par value, an empty section is null, LIST_DD is a date', () => {
  const row = { ISU_CD: 'KR7005930003', ISU_SRT_CD: '005930', ISU_NM: '삼성전자보통주', ISU_ABBRV: '삼성전자', ISU_ENG_NM: 'SamsungElectronics', LIST_DD: '1975/06/11', MKT_TP_NM: 'KOSPI', SECUGRP_NM: '주권', SECT_TP_NM: '', KIND_STKCERT_TP_NM: '보통주', PARVAL: '무액면', LIST_SHRS: '5,969,782,550' };
  const [r] = parseRows(JSON.stringify({ OutBlock_1: [row] }), 'OutBlock_1', LISTING_FIELDS);
  const s = toStock(r as Record<string, string>, 'KRX_DATA', 7);
  assert.equal(s.parValue, null);
  assert.equal(s.sector, null);
  assert.equal(s.listingDate, isoToEpochDay('1975-06-11'));
  assert.equal(s.listedShares, 5_969_782_550);
  assert.equal(toStock({ ...row, PARVAL: '100', SECT_TP_NM: '우량기업부', MKT_TP_NM: 'KOSDAQ GLOBAL' }, 'KRX_DATA', 7).parValue, 100);
  badResponse(() => toStock({ ...row, MKT_TP_NM: 'NASDAQ' }, 'KRX_DATA', 7), /unknown market/);
});
