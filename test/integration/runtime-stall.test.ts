import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { DeadLetterQueue } from '../../lib/dlq.js';
import { createLogger } from '../../lib/logger.js';
import { createMetricsRegistry } from '../../lib/metrics.js';
import { topicCatalogue } from '../../lib/topics.js';
import { StreamApp, type StreamAppOptions } from '../../stream-processors/runtime/kafka-runtime.js';
import type { ProcessorContext } from '../../stream-processors/runtime/processor.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import { freshNamespace, stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const RECORDS = 300;
const STUCK_AT = 150;

// The runtime's own Session against the real broker, with one await that never returns inside the
// session's work (a decode here; a Kafka call that never settles in life): every later batch, fetch
// and heartbeat of the consumer waits behind it.
test('a session stuck in its own work is replaced after session + transaction timeout, and the outputs stay exactly once', async () => {
  const ns = freshNamespace('stall');
  const topics = topicCatalogue(ns.topicNamespace, 3);
  const outTopic = { name: `${ns.topicNamespace}stall-out.v1`, partitions: 3, config: {} };
  let logged = '';
  const logger = createLogger('stall-test', { destination: new Writable({ write(c, _e, cb) { logged += c.toString(); cb(); } }), level: 'info' });
  const metrics = createMetricsRegistry('stall-test');
  const failed: unknown[] = [];
  let stuckOnce = false;
  const options: StreamAppOptions<number, { out: number }> = {
    applicationId: `${ns.id}-app`, instanceId: 'i1', brokers: stackEnv().KAFKA_BROKERS.split(','), clientId: 'stall-test',
    sessionTimeoutMs: 6000, transactionTimeoutMs: 1000, commitIntervalMs: 100, idleMs: 60_000, maxOutageMs: 180_000,
    input: {
      topic: topics.ticks,
      decode: (v) => {
        const n = Number((v as Buffer).toString());
        if (n === STUCK_AT && !stuckOnce) {
          stuckOnce = true;
          return new Promise<number>(() => undefined);
        }
        return n;
      },
      timestamp: (n) => n,
    },
    outputs: { out: { topic: outTopic, encode: (n: number) => Buffer.from(String(n)) } },
    deadLetters: { topic: topics.dlq('stall'), queue: new DeadLetterQueue(topics.dlq('stall').name, 'stall', metrics, logger) },
    processor: () => {
      let ctx!: ProcessorContext<{ out: number }>;
      return { init: (c) => (ctx = c), process: (r) => ctx.forward('out', r.key ?? '', r.value) };
    },
    metricPrefix: 'stall_test', recordNoun: 'records', logger, metrics,
    fail: (err) => failed.push(err),
    retryDelaysMs: [200],
  };
  const app = new StreamApp(options);
  try {
    await app.start();
    const producer = testKafka().producer();
    await producer.connect();
    await producer.send({ topic: topics.ticks.name, messages: Array.from({ length: RECORDS }, (_, i) => ({ key: `k${i % 17}`, value: String(i) })) });
    await producer.disconnect();

    await readTopic(outTopic.name, { count: RECORDS, timeoutMs: 90_000 });
    // Read again to the end: a record written twice would show here.
    const values = (await readTopic(outTopic.name, { quietMs: 3_000 })).map((m) => Number(m.value?.toString()));
    assert.ok(stuckOnce, 'the first session got stuck');
    assert.deepEqual([...values].sort((a, b) => a - b), Array.from({ length: RECORDS }, (_, i) => i), 'every record once, none twice');
    const replaced = logged.split('\n').filter((l) => l.includes('replacing the session'));
    assert.equal(replaced.length, 1, 'one replacement, logged');
    assert.match(replaced[0] ?? '', /a batch, commit or rebalance has not finished in \d+ ms/);
    await waitFor('the app healthy again', () => (app.health().healthy ? true : undefined), { timeoutMs: 30_000 });
    assert.deepEqual(failed, [], 'the service did not end');
  } finally {
    await app.stop();
  }
});
