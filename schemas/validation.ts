import { AppError } from '../lib/errors.js';
import type { Candle, OrderBook, Tick } from './generated/types.js';

/**
 * Invariants the Avro types cannot express. A record that breaks one is not processed: it goes to
 * the dead-letter topic with the first broken rule as its reason.
 */
const SYMBOL = /^[0-9A-Z]{6}$/;
// 2000-01-01 .. 2100-01-01 in microseconds: catches milliseconds or seconds passed as micros.
const MIN_TIME = 946_684_800_000_000;
const MAX_TIME = 4_102_444_800_000_000;

function fail(record: string, problem: string): never {
  throw new AppError('VALIDATION_FAILED', `invalid ${record}: ${problem}`);
}

export function validateTick(t: Tick): Tick {
  if (!SYMBOL.test(t.symbol)) fail('tick', `symbol ${JSON.stringify(t.symbol)} is not a 6-character code`);
  if (!(t.exchangeTime >= MIN_TIME && t.exchangeTime < MAX_TIME)) fail('tick', `exchangeTime ${t.exchangeTime} is not microseconds since 1970 in 2000..2100`);
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
  if (!(b.exchangeTime >= MIN_TIME && b.exchangeTime < MAX_TIME)) fail('order book', `exchangeTime ${b.exchangeTime} is not microseconds since 1970 in 2000..2100`);
  const sides = [b.askPrices, b.askQuantities, b.bidPrices, b.bidQuantities];
  if (sides.some((a) => a.length > 10)) fail('order book', 'more than 10 levels on a side');
  if (b.askPrices.length !== b.askQuantities.length || b.bidPrices.length !== b.bidQuantities.length) fail('order book', 'prices and quantities of a side differ in length');
  if (sides.some((a) => a.some((v) => v < 0))) fail('order book', 'negative price or quantity');
  return b;
}
