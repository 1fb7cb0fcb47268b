import { KST_OFFSET_MICROS, kstToUtcMicros } from '../../lib/time.js';
import type { MarketSession, OrderBook, Tick, TradeSide } from '../../schemas/generated/types.js';
import { validateTick } from '../../schemas/validation.js';
import { parseError } from './frame.js';
import { B, T, TRS, type TrSpec } from './trs.js';

/** Which TR a record came from and how wide its records are (the frame says both). */
export interface RecordLayout {
  spec: TrSpec;
  width: number;
}

const KRX_TRADES: RecordLayout = { spec: TRS['H0STCNT0'] as TrSpec, width: (TRS['H0STCNT0'] as TrSpec).fields };
const KRX_BOOKS: RecordLayout = { spec: TRS['H0STASP0'] as TrSpec, width: (TRS['H0STASP0'] as TrSpec).fields };

const INTEGER = /^-?\d{1,18}$/;
const SYMBOL = /^[0-9A-Z]{6}$/;
const HHMMSS = /^([01]\d|2[0-3])[0-5]\d[0-5]\d$/;
const YYYYMMDD = /^(19|20)\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/;

/** An integer field; empty means 0 unless the field is required. All KIS values are strings. */
function int(fields: readonly string[], i: number, name: string, required: boolean): number {
  const s = fields[i] ?? '';
  if (s === '') {
    if (required) throw parseError('field', `${name} is empty`);
    return 0;
  }
  if (!INTEGER.test(s)) throw parseError('field', `${name} ${JSON.stringify(s.slice(0, 24))} is not an integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw parseError('field', `${name} ${s} is too large`);
  return n;
}

function text(fields: readonly string[], i: number, name: string, pattern: RegExp): string {
  const s = fields[i] ?? '';
  if (!pattern.test(s)) throw parseError('field', `${name} ${JSON.stringify(s.slice(0, 24))} does not match ${pattern}`);
  return s;
}

/** CCLD_DVSN (CNTG_CLS_CODE in H0UNCNT0): 1 buy-initiated, 5 sell-initiated, 3 pre-open auction. */
function sideOf(code: string | undefined): TradeSide {
  switch (code) {
    case '1': return 'BUY';
    case '5': return 'SELL';
    case '3': return 'AUCTION';
    default: return 'UNKNOWN';
  }
}

/** MARKET_CLS_CODE (KIS notice of 2026-09-09): 1 pre-market, 2 regular, 3 after-market, 5 closing price. */
function sessionOfMarketClass(code: string | undefined): MarketSession | undefined {
  switch (code) {
    case '1': return 'PRE_MARKET';
    case '2': return 'REGULAR';
    case '3': return 'AFTER_MARKET';
    case '5': return 'CLOSING_PRICE';
    default: return undefined;
  }
}

/**
 * Records in the older layout have no MARKET_CLS_CODE: the first digit of NEW_MKOP_CLS_CODE says
 * almost the same (1 pre-open, 2 regular, 3 after the close at the closing price, 4 after-hours
 * single price, abolished on 2026-09-14).
 */
function sessionOfTradeCode(code: string | undefined): MarketSession {
  switch (code?.[0]) {
    case '1': return 'PRE_MARKET';
    case '2': return 'REGULAR';
    case '3': return 'CLOSING_PRICE';
    case '4': return 'AFTER_MARKET';
    default: return 'UNKNOWN';
  }
}

/** The MARKET_CLS_CODE of the record at `offset`, if its layout (`width` fields) has one. */
function marketClass(fields: readonly string[], offset: number, { spec, width }: RecordLayout): string | undefined {
  return spec.marketClassAt !== undefined && width > spec.marketClassAt ? fields[offset + spec.marketClassAt] : undefined;
}

/** YYYYMMDD of the KST day that contains `utcMicros`. */
export function kstDateOf(utcMicros: number): string {
  const d = new Date(Math.floor((utcMicros + KST_OFFSET_MICROS) / 1000));
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
}

/**
 * A trade record (H0STCNT0 / H0UNCNT0) starting at `offset` as a Tick.
 *
 * sequence = ACML_VOL, the day's cumulative volume after this trade. Every trade has a quantity of at
 * least one share, so it strictly increases per symbol within a day, and it is the exchange's number,
 * not ours: the same trade carries the same value after a producer restart or a reconnect. With the
 * QuestDB key (ts, symbol, seq) a trade delivered twice is written once, which a producer-side
 * counter (reset by every restart) could not give.
 */
export function readTick(fields: readonly string[], offset: number, ingestMicros: number, layout: RecordLayout = KRX_TRADES): Tick {
  const f = fields;
  const o = offset;
  const cumulativeVolume = int(f, o + T.cumulativeVolume, 'ACML_VOL', true);
  const sessionCode = f[o + T.sessionCode] ?? '';
  const tick: Tick = {
    symbol: text(f, o + T.symbol, 'MKSC_SHRN_ISCD', SYMBOL),
    exchangeTime: kstToUtcMicros(text(f, o + T.date, 'BSOP_DATE', YYYYMMDD), text(f, o + T.hour, 'STCK_CNTG_HOUR', HHMMSS)),
    ingestTime: ingestMicros,
    price: int(f, o + T.price, 'STCK_PRPR', true),
    quantity: int(f, o + T.quantity, 'CNTG_VOL', true),
    side: sideOf(f[o + T.side]),
    cumulativeVolume,
    cumulativeValue: int(f, o + T.cumulativeValue, 'ACML_TR_PBMN', true),
    sequence: cumulativeVolume,
    source: 'KIS',
    sessionCode,
    halted: f[o + T.halt] === 'Y',
    venue: layout.spec.venue,
    marketSession: sessionOfMarketClass(marketClass(f, o, layout)) ?? sessionOfTradeCode(sessionCode),
  };
  return validateTick(tick);
}

/**
 * An order-book record (H0STASP0 / H0UNASP0) at `offset`. The record has a time (BSOP_HOUR) but no
 * date, so the caller passes the KST date of when it arrived. `sequence` is a per-symbol counter of
 * the caller's: unlike trades, order books have no exchange number that orders them.
 */
export function readOrderBook(
  fields: readonly string[],
  offset: number,
  kstDate: string,
  ingestMicros: number,
  nextSequence: (symbol: string) => number,
  layout: RecordLayout = KRX_BOOKS,
): OrderBook {
  const f = fields;
  const o = offset;
  const symbol = text(f, o + B.symbol, 'MKSC_SHRN_ISCD', SYMBOL);
  const exchangeTime = kstToUtcMicros(kstDate, text(f, o + B.hour, 'BSOP_HOUR', HHMMSS));
  const level = (start: number, name: string) => {
    const out: number[] = new Array(10);
    for (let i = 0; i < 10; i++) {
      const v = int(f, o + start + i, `${name}${i + 1}`, false);
      if (v < 0) throw parseError('field', `${name}${i + 1} is negative`);
      out[i] = v;
    }
    return out;
  };
  const book: OrderBook = {
    symbol,
    exchangeTime,
    ingestTime: ingestMicros,
    askPrices: level(B.askPrice1, 'ASKP'),
    bidPrices: level(B.bidPrice1, 'BIDP'),
    askQuantities: level(B.askQuantity1, 'ASKP_RSQN'),
    bidQuantities: level(B.bidQuantity1, 'BIDP_RSQN'),
    totalAskQuantity: int(f, o + B.totalAsk, 'TOTAL_ASKP_RSQN', false),
    totalBidQuantity: int(f, o + B.totalBid, 'TOTAL_BIDP_RSQN', false),
    expectedPrice: int(f, o + B.expectedPrice, 'ANTC_CNPR', false),
    expectedQuantity: int(f, o + B.expectedQuantity, 'ANTC_CNQN', false),
    cumulativeVolume: int(f, o + B.cumulativeVolume, 'ACML_VOL', false),
    hourClassCode: f[o + B.hourClass] ?? '',
    sequence: 0,
    source: 'KIS',
    venue: layout.spec.venue,
    marketSession: sessionOfMarketClass(marketClass(f, o, layout)) ?? 'UNKNOWN',
  };
  book.sequence = nextSequence(symbol);
  return book;
}
