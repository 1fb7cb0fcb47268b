import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SerialQueue } from '../../../lib/serial.js';

test('sections run one at a time in call order, and busySince tells when the running one began', async () => {
  const q = new SerialQueue();
  assert.equal(q.busySince, null);
  const order: string[] = [];
  let releaseFirst!: () => void;
  const first = q.run(async () => {
    order.push('first start');
    await new Promise<void>((r) => (releaseFirst = r));
    order.push('first end');
    return 1;
  });
  const second = q.run(() => {
    order.push('second');
    throw new Error('boom');
  });
  const third = q.run(() => 'three');
  await new Promise((r) => setImmediate(r));
  const before = Date.now();
  assert.ok(q.busySince !== null && q.busySince <= before, 'busy while the first section waits');
  releaseFirst();
  assert.equal(await first, 1);
  await assert.rejects(second, /boom/);
  assert.equal(await third, 'three');
  assert.deepEqual(order, ['first start', 'first end', 'second']);
  assert.equal(q.busySince, null, 'idle again, also after a section that threw');
});
