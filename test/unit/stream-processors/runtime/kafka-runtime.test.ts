import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { DeadLetterQueue } from '../../../../lib/dlq.js';
import { AppError, isAppError } from '../../../../lib/errors.js';
import { createLogger } from '../../../../lib/logger.js';
import { createMetricsRegistry } from '../../../../lib/metrics.js';
import { topicCatalogue } from '../../../../lib/topics.js';
import { ProcessorFailure, StreamApp, type SessionLike, type StreamAppOptions } from '../../../../stream-processors/runtime/kafka-runtime.js';

/** Sessions that fail to start while `state.failNext` > 0 (Kafka away), then run until told to end. */
function fakeSessions(failures: number) {
  const started: FakeSession[] = [];
  const state = { failNext: failures };
  class FakeSession implements SessionLike {
    running = false;
    readonly ended: Promise<unknown>;
    end!: (err: unknown) => void;
    constructor() {
      this.ended = new Promise((r) => (this.end = r));
    }
    async start() {
      if (state.failNext-- > 0) throw new AppError('KAFKA_UNAVAILABLE', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', { retryable: true });
      this.running = true;
    }
    async close() {
      this.running = false;
    }
    assignedPartitions() {
      return this.running ? [0, 1] : [];
    }
  }
  return { started, state, factory: () => {
    const s = new FakeSession();
    started.push(s);
    return s;
  } };
}

function setup(failures: number) {
  let logged = '';
  const logger = createLogger('test', { destination: new Writable({ write(c, _e, cb) { logged += c.toString(); cb(); } }), level: 'debug' });
  const metrics = createMetricsRegistry('test');
  const topics = topicCatalogue('t.', 1);
  const failed: unknown[] = [];
  const options: StreamAppOptions<number, Record<string, never>> = {
    applicationId: 'app', instanceId: 'i', brokers: ['127.0.0.1:1'], clientId: 'c', sessionTimeoutMs: 6000, transactionTimeoutMs: 10_000,
    commitIntervalMs: 100, idleMs: 1000, maxOutageMs: 180_000, outputs: {}, metricPrefix: 'x', recordNoun: 'records', logger, metrics,
    input: { topic: topics.ticks, decode: () => 1, timestamp: () => 0 },
    deadLetters: { topic: topics.dlq('x'), queue: new DeadLetterQueue('dlq', 'x', metrics, logger) },
    processor: () => ({ init: () => undefined, process: () => undefined }),
    fail: (err) => failed.push(err),
    retryDelaysMs: [20],
  };
  const sessions = fakeSessions(failures);
  const app = new StreamApp(options, sessions.factory);
  const lines = () => logged.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; kafkaError?: string; err?: { code?: string } });
  const sessionFailures = async () => (await metrics.getSingleMetric('x_session_failures_total')?.get())?.values[0]?.value;
  return { app, sessions, failed, lines, sessionFailures };
}

test('Kafka away: the app keeps retrying, says so once at warn, answers unhealthy, and resumes by itself', async () => {
  const { app, sessions, failed, lines, sessionFailures } = setup(0);
  await app.start();
  assert.equal(app.health().healthy, true);
  assert.equal(await sessionFailures(), 0);
  // Kafka goes away under the running session; the next five attempts fail, the sixth connects.
  const running = sessions.started[0];
  sessions.state.failNext = 5;
  running?.end(new AppError('KAFKA_UNAVAILABLE', 'KafkaJSNumberOfRetriesExceeded', { retryable: true }));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(app.health().healthy, false, '/health answers 503 while Kafka is away');
  await waitUntil(() => app.health().healthy);
  assert.equal(sessions.started.length, 7, 'the running one, five failed attempts, the one that connected');
  assert.equal(await sessionFailures(), 6, 'the running one and five failed attempts, each counted');
  const warns = lines().filter((l) => l.level === 40);
  assert.equal(warns.length, 1, 'one warning for the whole outage');
  assert.match(warns[0]?.msg ?? '', /Kafka unreachable/);
  assert.equal(lines().filter((l) => l.level >= 50).length, 0, 'nothing at error');
  assert.ok(lines().some((l) => /reachable again/.test(l.msg)));
  assert.deepEqual(failed, [], 'the service did not end');
  await app.stop();
});

test('Kafka away at start-up: start resolves once a session runs', async () => {
  const { app, sessions, lines } = setup(3);
  await app.start();
  assert.equal(sessions.started.length, 4);
  assert.equal(lines().filter((l) => l.level === 40).length, 1);
  assert.equal(app.health().healthy, true);
  await app.stop();
  assert.equal(app.health().healthy, false);
});

test('a processor bug ends the service instead of retrying', async () => {
  const { app, sessions, failed } = setup(0);
  await app.start();
  sessions.started[0]?.end(new ProcessorFailure(new TypeError('x is undefined'), 2));
  await waitUntil(() => failed.length > 0);
  assert.equal(sessions.started.length, 1, 'no new session');
  assert.ok(failed[0] instanceof ProcessorFailure);
});

async function waitUntil(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('an output the broker refuses (INVALID_TIMESTAMP) ends the service with OUTPUT_REFUSED instead of waiting for Kafka forever', async () => {
  const { app, sessions, failed, lines } = setup(0);
  await app.start();
  // What kafkajs throws when a transactional send carries a record stamped two hours ahead (measured on Kafka 4.3).
  const refusal = Object.assign(new Error('The timestamp of the message is out of acceptable range'), { name: 'KafkaJSProtocolError', type: 'INVALID_TIMESTAMP', retriable: false });
  sessions.started[0]?.end(refusal);
  await waitUntil(() => failed.length > 0);
  assert.equal(sessions.started.length, 1, 'no new session');
  assert.ok(isAppError(failed[0], 'OUTPUT_REFUSED') && /INVALID_TIMESTAMP/.test(failed[0].message) && !failed[0].retryable);
  assert.ok(!lines().some((l) => /Kafka unreachable/.test(l.msg)), 'not reported as an outage');
});

test('a retriable broker answer is still an outage: a new session follows', async () => {
  const { app, sessions, failed } = setup(0);
  await app.start();
  sessions.started[0]?.end(Object.assign(new Error('There is no leader for this topic-partition'), { name: 'KafkaJSProtocolError', type: 'LEADER_NOT_AVAILABLE', retriable: true }));
  await waitUntil(() => sessions.started.length > 1);
  assert.equal(failed.length, 0);
  await app.stop();
});

test('a session ended by a Kafka answer names it: warned once as KAFKA_REQUEST_REFUSED, not as Kafka unreachable, and a new session follows', async () => {
  const { app, sessions, failed, lines, sessionFailures } = setup(0);
  await app.start();
  // What kafkajs throws when its retries of a request run out: the broker's answer is the cause.
  const answer = Object.assign(new Error('There is a newer producer with the same transactionalId which fences the current one'), { name: 'KafkaJSProtocolError', type: 'INVALID_PRODUCER_EPOCH', retriable: false });
  sessions.started[0]?.end(Object.assign(new Error(answer.message), { name: 'KafkaJSNumberOfRetriesExceeded', cause: answer }));
  await waitUntil(() => app.health().healthy && sessions.started.length === 2);
  const warns = lines().filter((l) => l.level === 40);
  assert.equal(warns.length, 1);
  assert.match(warns[0]?.msg ?? '', /^Kafka answered INVALID_PRODUCER_EPOCH: processing paused/);
  assert.equal(warns[0]?.kafkaError, 'INVALID_PRODUCER_EPOCH');
  assert.equal(warns[0]?.err?.code, 'KAFKA_REQUEST_REFUSED');
  assert.ok(!lines().some((l) => /unreachable|reachable again/.test(l.msg)), 'not reported as an outage');
  assert.ok(lines().some((l) => /new Kafka session running: processing resumed/.test(l.msg)));
  assert.equal(await sessionFailures(), 1);
  assert.deepEqual(failed, []);
  await app.stop();
});
