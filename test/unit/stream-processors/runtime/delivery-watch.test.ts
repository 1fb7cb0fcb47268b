import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliveryWatch } from '../../../../stream-processors/runtime/delivery-watch.js';

const STALL = 20_000;

test('records beyond the position for stallMs with no delivery are a stall; the first sighting starts the clock', () => {
  const w = new DeliveryWatch();
  w.delivered(0, 100);
  w.observe(0, w.position(0, -1), 500, 1_000);
  assert.equal(w.stalled(20_999, STALL), null, 'waited 19,999 ms');
  w.observe(0, w.position(0, -1), 600, 10_000); // the log grew meanwhile: still the same wait
  assert.deepEqual(w.stalled(21_000, STALL), { partition: 0, position: 100, logEnd: 500, waitedMs: 20_000 });
});

test('a delivery since the sighting is progress, and the next sighting starts a new wait', () => {
  const w = new DeliveryWatch();
  w.delivered(1, 100);
  w.observe(1, w.position(1, -1), 500, 0);
  w.delivered(1, 300);
  assert.equal(w.stalled(30_000, STALL), null, 'moved from 100 to 300');
  w.observe(1, w.position(1, -1), 500, 30_000);
  assert.equal(w.stalled(49_999, STALL), null);
  assert.equal(w.stalled(50_000, STALL)?.position, 300);
});

test('a log end at the position is no wait: caught up, or a transaction marker already fetched', () => {
  const w = new DeliveryWatch();
  w.observe(2, w.position(2, -1), 500, 0);
  w.delivered(2, 501); // kafkajs ended the control batch at 500: position 501
  w.observe(2, w.position(2, -1), 501, 5_000);
  assert.equal(w.stalled(100_000, STALL), null);
});

test('the position is the checkpoint or log start until the consumer hands something over, and never moves back', () => {
  const w = new DeliveryWatch();
  assert.equal(w.position(3, 40), 40);
  w.delivered(3, 90);
  w.delivered(3, 70); // a re-fetch after a rewind
  assert.equal(w.position(3, 40), 90);
  assert.equal(w.position(3, 120), 120);
});

test('time before notBefore (a restore) does not count, and a forgotten partition is not watched', () => {
  const w = new DeliveryWatch();
  w.observe(4, 0, 10, 0);
  assert.equal(w.stalled(25_000, STALL, 10_000), null, '15 s since the restore ended');
  assert.equal(w.stalled(30_000, STALL, 10_000)?.waitedMs, 20_000);
  w.forget(4);
  assert.equal(w.stalled(90_000, STALL), null);
});
