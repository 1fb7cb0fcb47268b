import { AppError } from '../lib/errors.js';
import type { Candle, DailyBar, OrderBook, Stock, Tick } from './generated/types.js';

/**
 * Invariants the Avro types cannot express. A record that breaks one is not processed: it goes to
 * the dead-letter topic with the first broken rule as its reason.
 */
const SYMBOL = /^[0-9A-Z]{6}$/;
// 2000-01-01 .. 2100-01-01 in microseconds: catches milliseconds or seconds passed as micros.
const MIN_TIME = 946_684_800_000_000;
const MAX_TIME = 4_102_444_800_000_000;
/**
 * How far an event may be stamped after its own receipt. A trade cannot happen after it was received,
 * so beyond clock skew this is a wrong clock or a wrong date given to a time of day (KIS sends HHMMSS).
 * Such a record would move stream time past every open window, and outputs stamped with it are
 * refused by the broker when over an hour ahead (log.message.timestamp.after.max.ms).
 */
const MAX_AHEAD_OF_RECEIPT = 5 * 60 * 1_000_000;

function fail(record: string, problem: string): never {
  throw new AppError('VALIDATION_FAILED', `invalid ${record}: ${problem}`);
}

/** A tick's or book's exchange time: microseconds in range, and not stamped after its own receipt. */
function checkEventTime(record: string, r: { exchangeTime: number; ingestTime: number }): void {
  if (!(r.exchangeTime >= MIN_TIME && r.exchangeTime < MAX_TIME)) fail(record, `exchangeTime ${r.exchangeTime} is not microseconds since 1970 in 2000..2100`);
  if (r.exchangeTime - r.ingestTime > MAX_AHEAD_OF_RECEIPT) {
    fail(record, `exchangeTime ${r.exchangeTime} is ${Math.round((r.exchangeTime - r.ingestTime) / 1_000_000)} s after its ingestTime ${r.ingestTime}: the source's clock or date is wrong`);
  }
}

/** The fields validateTick reads: a consumer that decodes only some fields must decode these. */
export const TICK_VALIDATED_FIELDS = ['symbol', 'exchangeTime', 'ingestTime', 'price', 'quantity', 'cumulativeVolume', 'cumulativeValue'] as const;

export function validateTick<T extends Pick<Tick, (typeof TICK_VALIDATED_FIELDS)[number]>>(t: T): T {
  if (!SYMBOL.test(t.symbol)) fail('tick', `symbol ${JSON.stringify(t.symbol)} is not a 6-character code`);
  checkEventTime('tick', t);
  if (!(t.price > 0)) fail('tick', `price ${t.price} must be positive`);
  if (!(t.quantity > 0)) fail('tick', `quantity ${t.quantity} must be positive`);
  if (t.cumulativeVolume < 0 || t.cumulativeValue < 0) fail('tick', 'cumulative volume and value cannot be negative');
  return t;
}

export function validateCandle(c: Candle): Candle {
  if (!SYMBOL.test(c.symbol)) fail('candle', `symbol ${JSON.stringify(c.symbol)} is not a 6-character code`);
  if (!(c.windowEnd > c.windowStart)) fail('candle', 'windowEnd must be after windowStart');
  if (!(c.low <= c.open && c.low <= c.close && c.high >= c.open && c.high >= c.close && c.low > 0)) fail('candle', 'OHLC out of order');
  return c;
}

export function validateOrderBook(b: OrderBook): OrderBook {
  if (!SYMBOL.test(b.symbol)) fail('order book', `symbol ${JSON.stringify(b.symbol)} is not a 6-character code`);
  checkEventTime('order book', b);
  const sides = [b.askPrices, b.askQuantities, b.bidPrices, b.bidQuantities];
  if (sides.some((a) => a.length > 10)) fail('order book', 'more than 10 levels on a side');
  if (b.askPrices.length !== b.askQuantities.length || b.bidPrices.length !== b.bidQuantities.length) fail('order book', 'prices and quantities of a side differ in length');
  if (sides.some((a) => a.some((v) => v < 0))) fail('order book', 'negative price or quantity');
  return b;
}

const CODE = /^[0-9A-Z]{6}$/;
// 1956-03-03 (KRX opened) .. 2100-01-01 as days since 1970: catches a date sent as YYYYMMDD or millis.
const MIN_DAY = -5_052;
const MAX_DAY = 47_482;

export function validateStock(s: Stock): Stock {
  if (!CODE.test(s.code)) fail('stock', `code ${JSON.stringify(s.code)} is not a 6-character code`);
  if (!/^[A-Z]{2}[0-9A-Z]{9}[0-9]$/.test(s.isin)) fail('stock', `isin ${JSON.stringify(s.isin)} is not an ISIN`);
  if (!(s.listingDate >= MIN_DAY && s.listingDate < MAX_DAY)) fail('stock', `listingDate ${s.listingDate} is not days since 1970 in 1956..2100`);
  if (s.listedShares < 0) fail('stock', 'listedShares cannot be negative');
  if (s.delisted !== (s.delistedDate !== null)) fail('stock', 'delistedDate is set exactly when delisted is true');
  return s;
}

export function validateDailyBar(b: DailyBar): DailyBar {
  if (!CODE.test(b.code)) fail('daily bar', `code ${JSON.stringify(b.code)} is not a 6-character code`);
  if (!(b.date >= MIN_DAY && b.date < MAX_DAY)) fail('daily bar', `date ${b.date} is not days since 1970 in 1956..2100`);
  if (!(b.close > 0)) fail('daily bar', `close ${b.close} must be positive`);
  // A stock without trades that day has open/high/low 0 (KRX reports them so) and no volume.
  const traded = b.volume > 0;
  if (traded && !(b.low > 0 && b.low <= b.open && b.low <= b.close && b.high >= b.open && b.high >= b.close)) fail('daily bar', 'OHLC out of order');
  if (b.volume < 0 || b.tradedValue < 0 || b.marketCap < 0 || b.listedShares < 0) fail('daily bar', 'volume, value, market cap and shares cannot be negative');
  return b;
}
