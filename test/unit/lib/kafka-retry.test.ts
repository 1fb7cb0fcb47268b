import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mock, test } from 'node:test';
import { consumerRetry, retryCovering } from '../../../lib/kafka.js';

type Retrier = (opts: object) => (fn: () => Promise<unknown>) => Promise<unknown>;
const createRetry = createRequire(import.meta.url)('kafkajs/src/retry/index.js') as Retrier;

/** Runs kafkajs's own retrier against a broker that never answers, on a mocked clock: how long it keeps trying. */
async function triesFor(settings: object): Promise<number> {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let elapsed = 0;
    let lastAttemptAt = 0;
    const unreachable = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError', retriable: true });
    const done = createRetry(settings)(() => {
      lastAttemptAt = elapsed;
      return Promise.reject(unreachable);
    }).then(() => 'resolved', (e: Error) => e.name);
    let outcome: string | undefined;
    void done.then((o) => (outcome = o));
    while (outcome === undefined) {
      await new Promise<void>((r) => setImmediate(r));
      elapsed += 100;
      mock.timers.tick(100);
    }
    assert.equal(outcome, 'KafkaJSNumberOfRetriesExceeded');
    return lastAttemptAt;
  } finally {
    mock.timers.reset();
  }
}

test('the client keeps retrying an unreachable broker for at least KAFKA_MAX_OUTAGE_MS, whatever the jitter', async () => {
  for (const outageMs of [10_000, 120_000, 180_000]) {
    const settings = retryCovering(outageMs);
    for (let run = 0; run < 5; run++) {
      const lastAttempt = await triesFor(settings);
      assert.ok(lastAttempt >= outageMs, `${outageMs} ms outage: last attempt at ${lastAttempt} ms`);
      // …and gives up within a few back-offs after it, so a dead cluster is still reported.
      assert.ok(lastAttempt <= outageMs * 1.25 + 2 * settings.maxRetryTime, `${outageMs} ms outage: still trying at ${lastAttempt} ms`);
    }
  }
});

test("kafkajs's defaults give up after about 11 s: the reason services exited during a broker restart", async () => {
  const lastAttempt = await triesFor({});
  assert.ok(lastAttempt < 20_000, `${lastAttempt}`);
});

test('a consumer gives up after twice its session timeout, not after KAFKA_MAX_OUTAGE_MS: its restart finds a new group coordinator', async () => {
  for (const sessionTimeoutMs of [6_000, 10_000, 30_000]) {
    const settings = consumerRetry(sessionTimeoutMs);
    for (let run = 0; run < 5; run++) {
      const lastAttempt = await triesFor(settings);
      assert.ok(lastAttempt >= 2 * sessionTimeoutMs, `session ${sessionTimeoutMs} ms: last attempt at ${lastAttempt} ms`);
      assert.ok(lastAttempt <= 2 * sessionTimeoutMs * 1.25 + 2 * settings.maxRetryTime, `session ${sessionTimeoutMs} ms: still trying at ${lastAttempt} ms`);
    }
  }
});
