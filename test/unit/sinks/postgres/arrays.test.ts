import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { numberArray, textArray } from '../../../../sinks/postgres/arrays.js';

// The reference: how pg itself writes a JS array parameter (it quotes every element).
const pgUtils = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue(v: unknown): string };
const pgArray = (values: unknown[]) => pgUtils.prepareValue(values);

test('textArray writes what pg writes for the same array: quotes, backslashes, commas, braces, NULL, Korean, empty', () => {
  const values = ['005930', '삼성전자', 'KODEX 200', 'a"b', 'back\\slash', '{x,y}', 'NULL', '', null, ' spaced ', "it's"];
  assert.equal(textArray(values), pgArray(values));
  assert.equal(textArray([]), pgArray([]));
});

test('numberArray writes the numbers of pg\'s array without its quotes, NULL unquoted', () => {
  const values = [0, -1200, 4210, 81354751283400, -0.66, 1.5e-7, 123456789012345, null];
  assert.equal(numberArray(values), pgArray(values).replace(/"/g, ''));
  assert.equal(numberArray([]), '{}');
});

test('numberArray refuses NaN and infinities, which no Postgres integer column takes', () => {
  assert.throws(() => numberArray([1, Number.NaN]), RangeError);
  assert.throws(() => numberArray([Number.POSITIVE_INFINITY]), RangeError);
});
