import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../../../lib/errors.js';
import { dateArray, float8Array, int8Array, textArray, timestamptzArray } from '../../../../sinks/postgres/arrays.js';

// The bytes themselves are checked against Postgres' own array_send in
// test/integration/postgres/binary-arrays.test.ts; here, what must never reach it.

const rejected = (f: () => unknown) => assert.throws(f, (err: unknown) => isAppError(err, 'SINK_ROW_REJECTED'));

test('int8Array refuses a fraction and integers beyond 2^53 instead of rounding them', () => {
  rejected(() => int8Array([1, 2.5]));
  rejected(() => int8Array([2 ** 53]));
  rejected(() => int8Array([Number.NaN]));
  assert.equal(int8Array([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]).length, 20 + 2 * 12);
});

test('float8Array refuses NaN and infinities; dateArray and timestamptzArray refuse fractions', () => {
  rejected(() => float8Array([Number.NaN]));
  rejected(() => float8Array([Number.NEGATIVE_INFINITY]));
  rejected(() => dateArray([20_000.5]));
  rejected(() => timestamptzArray([1.5]));
});

test('a NULL element takes four bytes and sets the has-nulls flag; an array without one leaves it clear', () => {
  const withNull = textArray(['a', null]);
  assert.equal(withNull.readInt32BE(4), 1);
  assert.equal(withNull.length, 20 + (4 + 1) + 4);
  assert.equal(textArray(['a']).readInt32BE(4), 0);
});
