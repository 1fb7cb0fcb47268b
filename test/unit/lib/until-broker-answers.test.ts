import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mock, test } from 'node:test';
import { untilBrokerAnswers } from '../../../lib/kafka.js';
import { isAppError } from '../../../lib/errors.js';

// kafkajs's own protocol errors, built the way its response decoders build them from a broker's error code.
const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { createErrorFromCode(code: number): Error & { type: string; retriable: boolean } };
const NOT_LEADER = 6;
const MESSAGE_TOO_LARGE = 10;

/** Drives `promise` on a mocked clock, 10 ms a step, until it settles; returns the outcome and the mocked time it took. */
async function onMockedClock<T>(start: () => Promise<T>): Promise<{ value?: T; error?: unknown; elapsedMs: number }> {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  try {
    let outcome: { value?: T; error?: unknown } | undefined;
    start().then((value) => (outcome = { value }), (error: unknown) => (outcome = { error }));
    let elapsedMs = 0;
    while (outcome === undefined) {
      await new Promise<void>((r) => setImmediate(r));
      if (outcome !== undefined) break;
      mock.timers.tick(10);
      elapsedMs += 10;
    }
    return { ...outcome, elapsedMs };
  } finally {
    mock.timers.reset();
  }
}

test('a broker answering NOT_LEADER_FOR_PARTITION for a while (just restarted) is asked again until it answers', async () => {
  assert.equal(createErrorFromCode(NOT_LEADER).retriable, true, 'kafkajs marks the answer retriable');
  let calls = 0;
  const r = await onMockedClock(() => untilBrokerAnswers('end offsets of t', async () => {
    calls++;
    if (calls <= 4) throw createErrorFromCode(NOT_LEADER);
    return [{ partition: 0, low: '0', high: '7' }];
  }));
  assert.deepEqual(r.value, [{ partition: 0, low: '0', high: '7' }]);
  assert.equal(calls, 5);
  assert.ok(r.elapsedMs <= 50 + 100 + 200 + 400 + 40, `backs off from 50 ms, doubling: ${r.elapsedMs} ms`);
});

test('an answer kafkajs marks not retriable is thrown at once, unchanged', async () => {
  let calls = 0;
  const refusal = createErrorFromCode(MESSAGE_TOO_LARGE);
  const r = await onMockedClock(() => untilBrokerAnswers('end offsets of t', () => {
    calls++;
    return Promise.reject(refusal);
  }));
  assert.equal(r.error, refusal);
  assert.equal(calls, 1);
});

test('a broker that keeps answering NOT_LEADER_FOR_PARTITION is reported as KAFKA_UNAVAILABLE (retryable) after the timeout', async () => {
  let calls = 0;
  const r = await onMockedClock(() => untilBrokerAnswers('end offsets of t', () => {
    calls++;
    return Promise.reject(createErrorFromCode(NOT_LEADER));
  }, 5_000));
  assert.ok(isAppError(r.error, 'KAFKA_UNAVAILABLE'), String(r.error));
  assert.equal(r.error.retryable, true);
  assert.match(r.error.message, /end offsets of t: the broker still answers "This server is not the leader for that topic-partition" after 5000 ms/);
  assert.ok(r.elapsedMs >= 4_000 && r.elapsedMs <= 5_000, `gave up at ${r.elapsedMs} ms`);
  assert.ok(calls >= 7 && calls <= 11, `${calls} calls: back-off capped at 1 s`);
});
