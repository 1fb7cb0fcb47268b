import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../../lib/errors.js';
import type { Tick } from '../../../schemas/generated/types.js';
import { validateTick } from '../../../schemas/validation.js';

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
  ];
  for (const [patch, reason] of cases) {
    assert.throws(() => validateTick({ ...good, ...patch }), (err: unknown) => isAppError(err, 'VALIDATION_FAILED') && reason.test(err.message), JSON.stringify(patch));
  }
});
