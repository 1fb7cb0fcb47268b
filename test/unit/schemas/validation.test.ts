import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../../lib/errors.js';
import type { OrderBook, Tick } from '../../../schemas/generated/types.js';
import { validateOrderBook, validateTick } from '../../../schemas/validation.js';

const good: Tick = {
  symbol: '005930', exchangeTime: 1_763_780_400_000_000, ingestTime: 1_763_780_400_001_000, price: 61_000, quantity: 12,
  side: 'SELL', cumulativeVolume: 1000, cumulativeValue: 61_000_000, sequence: 7, source: 'KIS', sessionCode: '20', halted: false, venue: 'KRX', marketSession: 'REGULAR',
};

test('a valid tick passes unchanged', () => {
  assert.equal(validateTick(good), good);
});

test('broken invariants are rejected with VALIDATION_FAILED and the reason', () => {
  const cases: Array<[Partial<Tick>, RegExp]> = [
    [{ symbol: '5930' }, /symbol/],
    [{ price: 0 }, /price 0 must be positive/],
    [{ quantity: -3 }, /quantity -3/],
    [{ exchangeTime: 1_763_780_400_000 }, /exchangeTime .* microseconds/],
    [{ cumulativeVolume: -1 }, /cumulative/],
    // A time of day given tomorrow's date: received today, stamped a day later.
    [{ exchangeTime: good.ingestTime + 86_400_000_000 }, /86400 s after its ingestTime .* clock or date is wrong/],
  ];
  for (const [patch, reason] of cases) {
    assert.throws(() => validateTick({ ...good, ...patch }), (err: unknown) => isAppError(err, 'VALIDATION_FAILED') && reason.test(err.message), JSON.stringify(patch));
  }
});

test('an event may be stamped up to 5 minutes after its receipt (clock skew), not a microsecond more', () => {
  const FIVE_MINUTES = 300_000_000;
  assert.equal(validateTick({ ...good, exchangeTime: good.ingestTime + FIVE_MINUTES }).symbol, good.symbol);
  assert.throws(() => validateTick({ ...good, exchangeTime: good.ingestTime + FIVE_MINUTES + 1 }), (err: unknown) => isAppError(err, 'VALIDATION_FAILED'));
  const book: OrderBook = {
    symbol: '005930', exchangeTime: good.ingestTime + FIVE_MINUTES + 1, ingestTime: good.ingestTime, askPrices: [61_100], askQuantities: [5], bidPrices: [61_000], bidQuantities: [7],
    totalAskQuantity: 5, totalBidQuantity: 7, expectedPrice: 0, expectedQuantity: 0, cumulativeVolume: 1000, hourClassCode: '0', sequence: 8, source: 'KIS', venue: 'KRX', marketSession: 'REGULAR',
  };
  assert.throws(() => validateOrderBook(book), (err: unknown) => isAppError(err, 'VALIDATION_FAILED') && /order book: exchangeTime .* after its ingestTime/.test(err.message));
});
