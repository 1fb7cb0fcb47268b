import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InRecord, Processor, ProcessorContext, ProcessResult } from '../../../../stream-processors/runtime/processor.js';
import { jsonStore, type KeyValueStore } from '../../../../stream-processors/runtime/store.js';
import { TestDriver } from '../../../../stream-processors/runtime/test-driver.js';
import { Random } from '../../../../producers/simulator/random.js';

const S = 1_000_000;

interface Out { totals: number; batches: number[]; ticks: number }

/** Running total per key in a changelogged store; every record forwards the new total. */
class Totals implements Processor<number, Out> {
  private ctx!: ProcessorContext<Out>;
  private store!: KeyValueStore<number>;
  init(ctx: ProcessorContext<Out>): void {
    this.ctx = ctx;
    this.store = ctx.store<number>('totals');
  }
  process(r: InRecord<number>): ProcessResult {
    const total = (this.store.get(r.key as string) ?? 0) + r.value;
    this.store.put(r.key as string, total);
    this.ctx.forward('totals', r.key as string, total);
  }
}

/**
 * Groups of three records held in memory only (rebuilt from input after a restart, like open
 * windows), closed by stream time: a record older than stream time - 10 s is late.
 */
class Triples implements Processor<number, Out> {
  private ctx!: ProcessorContext<Out>;
  private open: Array<{ offset: number; value: number }> = [];
  init(ctx: ProcessorContext<Out>): void {
    this.ctx = ctx;
  }
  process(r: InRecord<number>): ProcessResult {
    if (r.timestamp < this.ctx.streamTime() - 10 * S) return 'late';
    this.open.push({ offset: r.offset, value: r.value });
    if (this.open.length === 3) {
      this.ctx.forward('batches', 'k', this.open.map((x) => x.value));
      this.open = [];
    }
  }
  retainedFrom(): number | undefined {
    return this.open[0]?.offset;
  }
}

test('stores: what a crash loses is replayed, and outputs and store equal a run without faults', () => {
  const rng = new Random(5);
  const input = Array.from({ length: 500 }, (_, i) => ({ key: `k${rng.int(0, 7)}`, value: rng.int(1, 100), t: i * S }));
  const reference = new TestDriver<number, Out>({ processor: () => new Totals(), stores: [jsonStore('totals')] });
  for (const r of input) reference.pipe(0, r.key, r.value, r.t);
  reference.commit();

  const d = new TestDriver<number, Out>({ processor: () => new Totals(), stores: [jsonStore('totals')] });
  input.forEach((r) => {
    d.pipe(0, r.key, r.value, r.t);
    if (rng.int(0, 20) === 0) d.commit();
    if (rng.int(0, 60) === 0) d.crash();
  });
  d.commit();
  assert.deepEqual(d.output('totals', { committed: true }), reference.output('totals', { committed: true }));
  assert.deepEqual([...d.store<number>(0, 'totals').entries()].sort(), [...reference.store<number>(0, 'totals').entries()].sort());
});

test('restore: a new task starts from the changelog and the committed offset, not from the input', () => {
  const d = new TestDriver<number, Out>({ processor: () => new Totals(), stores: [jsonStore('totals')] });
  d.pipe(0, 'a', 5, 0);
  d.pipe(0, 'a', 7, S);
  d.commit();
  d.pipe(0, 'a', 100, 2 * S); // uncommitted: lost by the crash, then re-read
  d.crash();
  assert.equal(d.store<number>(0, 'totals').get('a'), 112);
  assert.deepEqual(d.checkpoint(0), { offset: 3, streamTime: 2 * S, processedUpTo: 3 });
  d.commit();
  assert.deepEqual(d.output('totals', { committed: true }).map((r) => r.value), [5, 12, 112]);
});

test('retained input: a restart re-reads from the first record open state needs, without repeating outputs or late routing', () => {
  const rng = new Random(8);
  const input = Array.from({ length: 400 }, (_, i) => ({ value: i, t: (i + (i % 37 === 0 ? -30 : rng.int(0, 3))) * S }));
  const run = (faults: boolean) => {
    const d = new TestDriver<number, Out>({ processor: () => new Triples() });
    input.forEach((r, i) => {
      d.pipe(0, null, r.value, r.t);
      if (i % 17 === 0) d.pipeBad(0);
      if (faults && rng.int(0, 9) === 0) d.commit();
      if (faults && rng.int(0, 40) === 0) d.crash();
    });
    d.commit();
    return { out: d.output('batches', { committed: true }).map((r) => r.value), late: d.late({ committed: true }), dead: d.deadLetters({ committed: true }) };
  };
  const reference = run(false);
  assert.ok(reference.late.length > 5, 'the input has late records');
  const faulty = run(true);
  assert.deepEqual(faulty.out, reference.out, 'every batch exactly once');
  assert.deepEqual(faulty.late, reference.late, 'every late record routed exactly once');
  assert.deepEqual(faulty.dead, reference.dead, 'every bad record dead-lettered exactly once');
});

test('a bad record between the committed offset and processedUpTo is not dead-lettered again after a restart', () => {
  const d = new TestDriver<number, Out>({ processor: () => new Triples() });
  d.pipe(0, null, 1, 0);
  assert.equal(d.pipeBad(0), 'dead-lettered');
  d.pipe(0, null, 2, S);
  d.commit();
  assert.deepEqual(d.checkpoint(0), { offset: 0, streamTime: S, processedUpTo: 3 }, 'the open triple still needs offset 0');
  d.crash(); // re-reads offsets 0..2
  d.commit();
  assert.deepEqual(d.deadLetters({ committed: true }), [{ partition: 0, offset: 1 }]);
  assert.equal(d.pipeBad(0), 'dead-lettered', 'new bad input still is');
});

test('stream-time punctuators fire when stream time crosses a multiple of their interval, records or idle moving it', () => {
  const fired: number[] = [];
  const d = new TestDriver<number, Out>({
    idleMs: 1000,
    processor: () => ({
      init: (ctx) => void ctx.schedule(10 * S, 'stream-time', (now) => fired.push(now)),
      process: (r) => (r.value < 0 ? 'late' : undefined),
    }),
  });
  d.pipe(0, null, 1, 3 * S); // first record: fires once
  d.pipe(0, null, 1, 9 * S);
  d.pipe(0, null, 1, 10 * S); // crosses 10 s
  d.pipe(0, null, 1, 11 * S);
  d.pipe(0, null, -1, 45 * S); // late records do not move stream time
  d.pipe(0, null, 1, 35 * S); // crosses 20 s and 30 s: one call
  assert.deepEqual(fired, [3 * S, 10 * S, 35 * S]);
  d.advanceWallClock(999);
  assert.equal(fired.length, 3, 'not idle yet');
  d.advanceWallClock(5001); // idle from 1000 ms: stream time follows the wall clock 35 s → 41 s, in 50 ms steps
  assert.equal(fired.length, 4);
  assert.ok((fired[3] as number) >= 40 * S && (fired[3] as number) < 40.05 * S, `fired at stream time ${fired[3]}`);
});

test('a broker outage longer than idleMs is not quiet input: records held by producers meanwhile are not late, and quiet time after it still is', () => {
  const d = new TestDriver<number, Out>({ idleMs: 1000, processor: () => new Triples() });
  assert.equal(d.pipe(0, 'k', 1, 35 * S), 'accepted');
  d.kafkaAway(60_000);
  assert.equal(d.streamTime(0), 35 * S, 'stream time did not follow the wall clock while Kafka was away');
  // Kafka answers again; what producers held during the outage comes half a second later, stamped when it happened.
  d.advanceWallClock(500);
  assert.equal(d.streamTime(0), 35 * S, 'the outage is not quiet input');
  assert.equal(d.pipe(0, 'k', 1, 36 * S), 'accepted');
  assert.equal(d.pipe(0, 'k', 1, 37 * S), 'accepted');
  // Quiet input once Kafka answers again still moves stream time: 20 s of it, from the last record.
  d.advanceWallClock(20_000);
  const after = d.streamTime(0) as number;
  assert.ok(after >= 56 * S && after <= 57 * S, `stream time ${after / S} s`);
  assert.equal(d.pipe(0, 'k', 1, 38 * S), 'late', 'and a record older than that quiet time is late');
});

test('wall-clock punctuators fire every interval of the (virtual) wall clock', () => {
  const fired: number[] = [];
  const d = new TestDriver<number, Out>({
    wallClockMs: 1_000,
    processor: () => ({ init: (ctx) => void ctx.schedule(250, 'wall-clock', (now) => fired.push(now)), process: () => undefined }),
  });
  d.advanceWallClock(1000, 50);
  assert.deepEqual(fired, [1250, 1500, 1750, 2000]);
});

test('wall-clock punctuators keep their rate when the ticks come late, and fire once after a pause', () => {
  const fired: number[] = [];
  const d = new TestDriver<number, Out>({
    wallClockMs: 1_000,
    processor: () => ({ init: (ctx) => void ctx.schedule(250, 'wall-clock', (now) => fired.push(now)), process: () => undefined }),
  });
  // Ticks every 60 ms: each firing is the first tick at or after 1250, 1500, … 4000.
  d.advanceWallClock(3000, 60);
  const marks = Array.from({ length: 12 }, (_, i) => 1250 + 250 * i);
  assert.deepEqual(fired, marks.map((m) => 1000 + Math.ceil((m - 1000) / 60) * 60));
  // A pause of 1.1 s: one firing at its end, then the schedule goes on at 5250, 5500.
  fired.length = 0;
  d.advanceWallClock(1100, 1100);
  d.advanceWallClock(500, 50);
  assert.deepEqual(fired, [5100, 5250, 5500]);
});

test('revoke: flushes and commits, stops the partition at once; the next owner restores it exactly', () => {
  const d = new TestDriver<number, Out>({ processor: () => new Totals(), stores: [jsonStore('totals')], partitions: 2 });
  d.pipe(0, 'a', 1, 0);
  d.pipe(1, 'b', 10, 0);
  d.revoke(1);
  assert.deepEqual(d.output('totals', { committed: true }).map((r) => r.value), [1, 10], 'flushed and committed on revoke');
  assert.equal(d.pipe(1, 'b', 5, S), 'unassigned', 'no processing once revoked');
  assert.equal(d.isAssigned(0), true);
  d.assign(1); // the new owner: changelog restore, then the rest of the log
  assert.equal(d.store<number>(1, 'totals').get('b'), 15);
  d.commit();
  assert.deepEqual(d.output('totals', { committed: true }).filter((r) => r.partition === 1).map((r) => r.value), [10, 15]);
});

test('records fetched again after a rebalance (kafkajs re-seeks to the committed offset) are skipped, bad ones too', () => {
  const d = new TestDriver<number, Out>({ processor: () => new Totals(), stores: [jsonStore('totals')] });
  d.pipe(0, 'a', 1, 0);
  d.commit();
  d.pipe(0, 'a', 2, S);
  d.pipeBad(0);
  d.pipe(0, 'a', 3, 2 * S);
  assert.deepEqual(d.redeliver(0, 1), ['held', 'held', 'held'], 'from the last commit on: all already in the state');
  d.commit();
  assert.equal(d.store<number>(0, 'totals').get('a'), 6);
  assert.deepEqual(d.output('totals', { committed: true }).map((r) => r.value), [1, 3, 6]);
  assert.equal(d.deadLetters({ committed: true }).length, 1);
});
