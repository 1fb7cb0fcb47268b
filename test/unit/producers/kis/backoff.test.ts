import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, heldSlotDelay } from '../../../../producers/kis/backoff.js';

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

test('held-slot waits never go below the floor, double per attempt to the maximum, and add up to half again as jitter', () => {
  const at = (attempt: number, r: number) => heldSlotDelay(attempt, 20_000, 300_000, () => r);
  assert.deepEqual([0, 1, 2, 3, 4].map((a) => at(a, 0)), [20_000, 40_000, 80_000, 160_000, 300_000]);
  assert.deepEqual([0, 1].map((a) => at(a, 1)), [30_000, 60_000]);
  assert.equal(at(50, 1), 450_000);
  assert.equal(heldSlotDelay(0, 20_000, 1_000, () => 0), 20_000, 'a maximum below the floor does not shorten the floor');
});
