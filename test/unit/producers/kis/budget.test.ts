import assert from 'node:assert/strict';
import { test } from 'node:test';
import { budgetsWaitMs, WindowBudget } from '../../../../producers/kis/budget.js';

test('a window budget allows `limit` events in any window and says how long until the next fits', () => {
  const b = new WindowBudget(3, 1_000);
  for (const t of [0, 100, 200]) {
    assert.equal(b.waitMs(t), 0);
    b.take(t);
  }
  assert.equal(b.waitMs(300), 700);
  assert.throws(() => b.take(300), /exceeded/);
  assert.equal(b.waitMs(1_000), 0, 'the first event left the window');
  b.take(1_000);
  assert.equal(b.waitMs(1_000), 100);
  assert.equal(b.used(1_000), 3);
});

test('several budgets: the longest wait wins', () => {
  const key = new WindowBudget(1, 500);
  const proc = new WindowBudget(2, 2_000);
  key.take(0);
  proc.take(0);
  proc.take(10);
  assert.equal(budgetsWaitMs([key, proc], 100), 1_900);
  assert.equal(budgetsWaitMs([key], 100), 400);
});
