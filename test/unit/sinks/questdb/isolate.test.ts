import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../../../../lib/errors.js';
import { writeIsolatingRejects } from '../../../../sinks/questdb/isolate.js';

/**
 * A stand-in for QuestDB's /write as it answers (probed on QuestDB 9.3): a request is applied all or
 * nothing; a refused one names its first bad line (1-based), unless `withLine` is off.
 */
function fakeQuestdb(bad: Set<number>, { withLine = true, lineOffset = 0 } = {}) {
  const written: number[] = [];
  let requests = 0;
  const send = async (from: number, to: number) => {
    requests++;
    for (let r = from; r < to; r++) {
      if (bad.has(r)) throw new AppError('SINK_ROW_REJECTED', `row ${r} refused`, { context: withLine ? { line: r - from + 1 + lineOffset } : {} });
    }
    for (let r = from; r < to; r++) written.push(r);
  };
  return { send, written, requests: () => requests };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test('every good row is written exactly once and every bad row is returned with its reason', async () => {
  for (const [n, bad] of [[1, []], [1, [0]], [10, [0]], [10, [9]], [10, [4]], [100, [3, 4, 50, 99]], [7, range(7)], [1000, range(1000).filter((i) => i % 97 === 5)]] as Array<[number, number[]]>) {
    for (const opts of [{}, { withLine: false }, { lineOffset: 3 }, { lineOffset: -2 }]) {
      const q = fakeQuestdb(new Set(bad), opts);
      const rejected = await writeIsolatingRejects(n, q.send);
      assert.deepEqual(rejected.map((r) => r.row), bad, `${n} rows, bad ${bad.length}, ${JSON.stringify(opts)}`);
      for (const r of rejected) assert.equal(r.error.message, `row ${r.row} refused`);
      assert.deepEqual([...q.written].sort((a, b) => a - b), range(n).filter((i) => !bad.includes(i)), 'each good row once');
    }
  }
});

test('a clean batch is one request; one bad row costs a handful', async () => {
  const clean = fakeQuestdb(new Set());
  await writeIsolatingRejects(20_000, clean.send);
  assert.equal(clean.requests(), 1);
  const one = fakeQuestdb(new Set([12_345]));
  await writeIsolatingRejects(20_000, one.send);
  assert.ok(one.requests() <= 5, `${one.requests()} requests`);
  const allBad = fakeQuestdb(new Set(range(1024)));
  await writeIsolatingRejects(1024, allBad.send);
  assert.ok(allBad.requests() < 4 * 1024, `${allBad.requests()} requests for 1,024 bad rows`);
});

test('an outage is thrown at once, not taken for a bad row', async () => {
  let calls = 0;
  const down = async () => {
    calls++;
    throw new AppError('SINK_WRITE_FAILED', 'connection refused', { retryable: true });
  };
  await assert.rejects(writeIsolatingRejects(100, down), /connection refused/);
  assert.equal(calls, 1);
});
