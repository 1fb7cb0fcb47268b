import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mock, test } from 'node:test';
import { consumerRetry, retryCovering } from '../../../lib/kafka.js';

type Retrier = (opts: object) => (fn: () => Promise<unknown>) => Promise<unknown>;
const createRetry = createRequire(import.meta.url)('kafkajs/src/retry/index.js') as Retrier;

/** Runs kafkajs's own retrier against a broker that never answers, on a mocked clock: how long it keeps trying. */
async function triesFor(settings: object, draw?: number): Promise<number> {
  mock.timers.enable({ apis: ['setTimeout'] });
  // A fixed draw gives the extremes of the jitter (0: every wait shortest, ~1: every wait longest).
  const random = draw === undefined ? undefined : mock.method(Math, 'random', () => draw);
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
    random?.mock.restore();
  }
}

/**
 * The latest a retrier that covers `ms` may still try. kafkajs draws each wait ±factor around the last
 * one drawn and doubles it, so the jitter compounds until the cap: with every draw at its top, the
 * waits end ≈ 13 s past the nominal ones (28.3 s for a 12 s cover; a 12 s cover failed at 25.8 s once
 * against a bound of 1.25 × cover + 2 caps). Three caps over 1.25 × the cover hold every case.
 */
const EXTREMES_AND_RANDOM = [0, 0.999_999, undefined, undefined, undefined];

const latestGiveUp = (ms: number, settings: { maxRetryTime: number }) => ms * 1.25 + 3 * settings.maxRetryTime;

test('the client keeps retrying an unreachable broker for at least KAFKA_MAX_OUTAGE_MS, whatever the jitter', async () => {
  for (const outageMs of [10_000, 120_000, 180_000]) {
    const settings = retryCovering(outageMs);
    for (const draw of EXTREMES_AND_RANDOM) {
      const lastAttempt = await triesFor(settings, draw);
      assert.ok(lastAttempt >= outageMs, `${outageMs} ms outage: last attempt at ${lastAttempt} ms`);
      // …and gives up within a few back-offs after it, so a dead cluster is still reported.
      assert.ok(lastAttempt <= latestGiveUp(outageMs, settings), `${outageMs} ms outage: still trying at ${lastAttempt} ms`);
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
    for (const draw of EXTREMES_AND_RANDOM) {
      const lastAttempt = await triesFor(settings, draw);
      assert.ok(lastAttempt >= 2 * sessionTimeoutMs, `session ${sessionTimeoutMs} ms: last attempt at ${lastAttempt} ms`);
      assert.ok(lastAttempt <= latestGiveUp(2 * sessionTimeoutMs, settings), `session ${sessionTimeoutMs} ms: still trying at ${lastAttempt} ms`);
    }
  }
});
