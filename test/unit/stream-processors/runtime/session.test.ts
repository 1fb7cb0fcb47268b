import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commitDue, commitInterval, stallOf } from '../../../../stream-processors/runtime/session.js';

test('commits every commitIntervalMs, every catchUpCommitIntervalMs (never shorter) while catching up, and sooner again once 50,000 outputs wait', () => {
  const o = { commitIntervalMs: 100, catchUpCommitIntervalMs: 1000 };
  assert.equal(commitInterval(o, false, 0), 100);
  assert.equal(commitInterval(o, false, 60_000), 100);
  assert.equal(commitInterval(o, true, 0), 1000);
  assert.equal(commitInterval(o, true, 49_999), 1000);
  assert.equal(commitInterval(o, true, 50_000), 100);
  // A commit interval set longer than the catch-up one is kept (a test that wants few commits).
  assert.equal(commitInterval({ commitIntervalMs: 5000, catchUpCommitIntervalMs: 1000 }, true, 0), 5000);
  // Options built without it (tests of the runtime) keep the one interval.
  assert.equal(commitInterval({ commitIntervalMs: 100 }, true, 0), 100);
});

test('outputs a wall-clock punctuator just emitted are committed at once, unless a partition catches up; otherwise the interval decides', () => {
  const o = { commitIntervalMs: 100, catchUpCommitIntervalMs: 1000 };
  const live = { sinceLastCommitMs: 10, catchingUp: false, pendingOutputs: 2_880 };
  assert.equal(commitDue(o, { ...live, punctuatedOutputs: true }), true, 'live: the in-progress candles go out now');
  assert.equal(commitDue(o, { ...live, punctuatedOutputs: false }), false, 'other outputs wait for the interval');
  assert.equal(commitDue(o, { ...live, sinceLastCommitMs: 100, punctuatedOutputs: false }), true);
  const catchingUp = { ...live, catchingUp: true, punctuatedOutputs: true };
  assert.equal(commitDue(o, catchingUp), false, 'a catch-up keeps its few large transactions');
  assert.equal(commitDue(o, { ...catchingUp, sinceLastCommitMs: 1000 }), true);
});

test('a session is stuck when a section of its work or its consumer has been quiet for stallMs, never while restoring, and the clocks start again after a restore', () => {
  const base = { now: 100_000, stallMs: 20_000, lastAnswer: 99_000, busySince: null, restoring: false, restoredAt: 0 };
  assert.equal(stallOf(base), null, 'idle and hearing from Kafka');
  assert.equal(stallOf({ ...base, busySince: 80_001 }), null, 'a section 19,999 ms long');
  assert.equal(stallOf({ ...base, busySince: 80_000 }), 'a batch, commit or rebalance has not finished in 20000 ms');
  assert.equal(stallOf({ ...base, lastAnswer: 80_000 }), 'the consumer has heard nothing from Kafka for 20000 ms');
  assert.equal(stallOf({ ...base, lastAnswer: 0, busySince: 0, restoring: true }), null, 'restoring has its own limit');
  assert.equal(stallOf({ ...base, lastAnswer: 0, busySince: 0, restoredAt: 90_000 }), null, 'counted from the end of the restore');
  assert.match(stallOf({ ...base, lastAnswer: 0, busySince: 0, restoredAt: 80_000 }) ?? '', /not finished in 20000 ms/);
});
