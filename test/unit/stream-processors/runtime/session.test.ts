import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commitInterval } from '../../../../stream-processors/runtime/session.js';

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
