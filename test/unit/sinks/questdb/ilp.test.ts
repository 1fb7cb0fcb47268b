import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boolean, double, IlpBuffer, IlpTableEncoder, long, symbol, timestamp, varchar, type Column } from '../../../../sinks/questdb/ilp.js';
import { clientRows } from './client-reference.js';

interface Row {
  s?: string | null;
  s2?: string | null;
  n?: number | null;
  d?: number | null;
  b?: boolean | null;
  t?: number | null;
  v?: string | null;
  ts: number;
}

const columns: Column<Row>[] = [
  symbol('종목 코드', (r) => r.s),
  long('qty', (r) => r.n),
  symbol('side', (r) => r.s2),
  double('가격', (r) => r.d),
  boolean('flag', (r) => r.b),
  timestamp('at', (r) => r.t),
  varchar('note text', (r) => r.v),
];

const awkward = ['', 'a b', 'a,b', 'a=b', 'a\nb', 'a\rb', 'a\\b', 'a"b', "a'b", '삼성전자', '😀 x', '\ud800', ' ,=\n\r\\"', 'tail\\'];
const longs = [0, -0, 1, -1, 61_000, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 63 - 1 /* as a double: 2^63 */, -(2 ** 63), 1e21];
const doubles = [0, -0, 1, 2, -3, 2.5, 0.1 + 0.2, 1e300, -1e-300, 5e-324, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity, 61_234.56789];
const times = [0, 1, 946_684_800_000_000, 1_763_780_400_123_456, 4_102_444_799_999_999];

function edgeRows(): Row[] {
  const rows: Row[] = [];
  const n = Math.max(awkward.length, longs.length, doubles.length, times.length);
  for (let i = 0; i < n; i++) {
    rows.push({
      s: awkward[i % awkward.length], s2: awkward[(i + 3) % awkward.length], n: longs[i % longs.length], d: doubles[i % doubles.length],
      b: i % 2 === 0, t: times[i % times.length], v: awkward[(i + 5) % awkward.length], ts: times[(i + 1) % times.length] as number,
    });
  }
  // Absent values, one kind at a time and all at once (undefined and null), and rows of one kind only.
  for (const k of ['s', 's2', 'n', 'd', 'b', 't', 'v'] as const) {
    rows.push({ ...(rows[1] as Row), [k]: undefined });
    rows.push({ ...(rows[2] as Row), [k]: null });
  }
  rows.push({ s: 'only symbols', s2: null, ts: 5 });
  rows.push({ n: 7, ts: 6 });
  rows.push({ d: 1.5, ts: 7 }, { b: false, ts: 8 }, { t: 9, ts: 9 }, { v: '', ts: 10 });
  return rows;
}

function ours<T>(table: string, cols: Column<T>[], ts: (r: T) => number, rows: T[]): Buffer {
  const out = new IlpBuffer(16); // tiny on purpose: growing mid-row must not change a byte
  const enc = new IlpTableEncoder(table, cols, ts);
  for (const r of rows) enc.encode(r, out);
  return Buffer.from(out.bytes());
}

test('byte-identical to the official client: escaping, unicode names and values, every column kind, absent values', () => {
  const rows = edgeRows();
  for (const table of ['ticks', '시세 표', 'with.dot', 't_abc123_candles_1s']) {
    const expected = clientRows(table, columns, (r) => r.ts, rows);
    const actual = ours(table, columns, (r) => r.ts, rows);
    assert.equal(actual.toString('hex'), expected.toString('hex'), table);
  }
  // Row by row too, so a difference names its row.
  for (const r of rows) {
    assert.equal(ours('t', columns, (x) => x.ts, [r]).toString('hex'), clientRows('t', columns, (x) => x.ts, [r]).toString('hex'), JSON.stringify(r));
  }
});

test('the row ends are where each row ends, and a slice is the bytes of those rows', () => {
  const rows = edgeRows();
  const out = new IlpBuffer(8);
  const enc = new IlpTableEncoder('t', columns, (r: Row) => r.ts);
  for (const r of rows) enc.encode(r, out);
  assert.equal(out.rows, rows.length);
  for (let i = 0; i < rows.length; i++) {
    assert.equal(out.slice(i, i + 1).toString('hex'), clientRows('t', columns, (x) => x.ts, [rows[i] as Row]).toString('hex'));
  }
  assert.equal(out.slice(2, 5).toString('hex'), clientRows('t', columns, (x) => x.ts, rows.slice(2, 5)).toString('hex'));
});

test('refuses what the client refuses, and leaves nothing of the refused row behind', () => {
  const enc = new IlpTableEncoder('t', columns, (r: Row) => r.ts);
  const out = new IlpBuffer();
  enc.encode({ s: 'x', n: 1, ts: 1 }, out);
  const before = Buffer.from(out.bytes());
  for (const bad of [{ s: 'x', n: 1.5, ts: 1 }, { s: 'x', t: 2.5, ts: 1 }, { s: 'x', ts: 1.5 }, { ts: 1 }, { s: 'x', b: 'yes' as unknown as boolean, ts: 1 }, { s: 'x', d: '1' as unknown as number, ts: 1 }]) {
    assert.throws(() => enc.encode(bad, out), Error, JSON.stringify(bad));
    assert.throws(() => clientRows('t', columns, (r) => r.ts, [bad]), Error, `the client refuses ${JSON.stringify(bad)} too`);
  }
  assert.deepEqual(Buffer.from(out.bytes()), before);
  assert.equal(out.rows, 1);
  for (const name of ['', 'a,b', 'a.b', 'a-b', 'a"b', 'x'.repeat(128)]) assert.throws(() => new IlpTableEncoder('t', [long(name, () => 1)], () => 1), Error, name);
  for (const name of ['', '.t', 't.', 'a..b', 'a/b']) assert.throws(() => new IlpTableEncoder(name, columns, (r: Row) => r.ts), Error, name);
});
