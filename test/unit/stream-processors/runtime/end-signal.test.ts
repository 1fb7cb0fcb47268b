import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENDED, EndSignal } from '../../../../stream-processors/runtime/end-signal.js';

test('a race gives the work its result when the work finishes first, and holds nothing afterwards', async () => {
  const signal = new EndSignal();
  assert.equal(await signal.race(Promise.resolve(42)), 42);
  // A session sees tens of batches a second: no wait may outlive its race (each one used to stay
  // attached to the session's pending promise until the session ended).
  for (let i = 0; i < 10_000; i++) await signal.race(Promise.resolve(i));
  assert.equal(signal.waiting, 0);
});

test('the end releases every wait at once; the work goes on by itself, and later races end at once', async () => {
  const signal = new EndSignal();
  let finish!: (v: string) => void;
  const work = new Promise<string>((resolve) => (finish = resolve));
  const first = signal.race(work);
  const second = signal.race(work);
  assert.equal(signal.waiting, 2);
  signal.end();
  assert.equal(await first, ENDED);
  assert.equal(await second, ENDED);
  assert.equal(signal.waiting, 0);
  finish('done');
  assert.equal(await work, 'done');
  assert.equal(await signal.race(Promise.resolve('late')), ENDED, 'a batch that comes after the end does not wait for its work');
  signal.end(); // a second end changes nothing
  assert.equal(signal.waiting, 0);
});

test('a work that fails before the end rejects the race with its error', async () => {
  const signal = new EndSignal();
  await assert.rejects(signal.race(Promise.reject(new Error('batch failed'))), /batch failed/);
  assert.equal(signal.waiting, 0);
});
