import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { boolArray, dateArray, float8Array, int8Array, textArray, timestamptzArray } from '../../../sinks/postgres/arrays.js';
import { stackEnv } from '../../helpers/stack.js';

/**
 * The sink's binary array parameters against an independent reference: the same values sent as pg
 * writes a JS array (text), parsed by Postgres' array_in and sent back by its array_send, must be
 * byte for byte what sinks/postgres/arrays.ts builds — and read back as the same values.
 */
let client: pg.Client;
before(async () => {
  client = new pg.Client({ connectionString: stackEnv().POSTGRES_URL });
  await client.connect();
});
after(() => client.end());

async function assertSameAsPostgres(type: string, ours: Buffer, text: unknown[]): Promise<void> {
  const { rows } = await client.query<{ reference: Buffer; equal: boolean }>(
    `SELECT array_send($1::${type}[]) AS reference, $1::${type}[] IS NOT DISTINCT FROM $2::${type}[] AS equal`,
    [text, ours],
  );
  assert.deepEqual(ours, rows[0]?.reference, `${type}[] bytes`);
  assert.equal(rows[0]?.equal, true, `${type}[] values`);
}

test('bigint, float8, boolean arrays: the bytes of Postgres\' array_send, negatives, extremes and NULLs included', async () => {
  const longs = [0, -1, 1, -1200, 4210, 81_354_751_283_400, -(2 ** 32), 2 ** 32 - 1, 2 ** 31, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, null];
  await assertSameAsPostgres('bigint', int8Array(longs), longs);
  const doubles = [0, -0.66, 1.5e-7, 123456789.125, -29.97, 1e300, null];
  await assertSameAsPostgres('float8', float8Array(doubles), doubles);
  const bools = [true, false, null];
  await assertSameAsPostgres('boolean', boolArray(bools), bools);
});

test('text arrays: Korean, quotes, backslashes, braces, commas, the word NULL, empty strings and NULLs', async () => {
  const texts = ['005930', '삼성전자', 'KODEX 200', 'a"b', 'back\\slash', '{x,y}', 'NULL', '', null, ' spaced ', "it's", '🙂'];
  await assertSameAsPostgres('text', textArray(texts), texts);
});

test('date and timestamptz arrays: days and microseconds since 1970 on both sides of 2000-01-01', async () => {
  const days = [0, 10_956, 10_957, 20_424, -365, null]; // 1970-01-01, 1999-12-31, 2000-01-01, 2025-12-02, 1969-01-01
  const isoDays = days.map((d) => (d === null ? null : new Date(d * 86_400_000).toISOString().slice(0, 10)));
  await assertSameAsPostgres('date', dateArray(days), isoDays);
  const micros = [0, 946_684_800_000_000, 946_684_799_999_999, 1_796_190_000_123_456, -1, null];
  const isoMicros = micros.map((t) => (t === null ? null : `${new Date(Math.floor(t / 1000)).toISOString().slice(0, 23)}${String(((t % 1000) + 1000) % 1000).padStart(3, '0')}+00`));
  await assertSameAsPostgres('timestamptz', timestamptzArray(micros), isoMicros);
});

test('empty arrays are Postgres\' empty array, and a NUL character in text is refused by Postgres as a data exception', async () => {
  await assertSameAsPostgres('bigint', int8Array([]), []);
  await assertSameAsPostgres('text', textArray([]), []);
  await assert.rejects(client.query('SELECT $1::text[]', [textArray(['a\u0000b'])]), (err: unknown) => String((err as { code?: string }).code).startsWith('22'));
});
