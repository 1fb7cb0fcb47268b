import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../../../producers/kis/backoff.js';

test('delays double per attempt up to the maximum, jittered between half and all of the step', () => {
  const policy = { baseMs: 250, maxMs: 30_000 };
  const at = (attempt: number, r: number) => backoffDelay(attempt, policy, () => r);
  assert.deepEqual([0, 1, 2, 3].map((a) => at(a, 0)), [125, 250, 500, 1000]);
  assert.deepEqual([0, 1, 2, 3].map((a) => at(a, 1)), [250, 500, 1000, 2000]);
  assert.equal(at(10, 1), 30_000);
  assert.equal(at(10, 0), 15_000);
  assert.equal(at(1000, 0.5), 22_500, 'huge attempt counts do not overflow');
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(4, policy);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});
