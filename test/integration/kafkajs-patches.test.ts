import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Partitioners, type Message, type PartitionMetadata } from 'kafkajs';
import { createKafka, createProducer, ensureTopics } from '../../lib/kafka.js';
import { createLogger } from '../../lib/logger.js';
import { TRANSACTION_RETRY } from '../../stream-processors/runtime/session.js';
import { readTopicRecords } from '../helpers/kafka.js';
import { freshNamespace, stackEnv } from '../helpers/stack.js';
import { yesterdayAt } from '../helpers/time.js';

// The patched kafkajs encoder (patches/kafkajs+2.2.4.patch) against the real broker: the broker checks
// each batch's CRC and sequence numbers, and a consumer reads back every field of every record.
test('records produced through the patched kafkajs come back exactly: keys, values, headers, timestamps, partitions', async () => {
  const ns = freshNamespace('kjspatch');
  const topics = [`${ns.topicNamespace}a`, `${ns.topicNamespace}b`];
  // At warn: a send kafkajs had to retry prints its first attempt's error (downgraded to a warning as
  // transient), so a failure of the retry can be read next to its cause.
  const kafka = createKafka({ brokers: stackEnv().KAFKA_BROKERS.split(','), clientId: 'kafkajs-patches-test', logger: createLogger('test', { level: 'warn' }) });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics.map((name) => ({ name, partitions: 6, config: {} })));
  await admin.disconnect();

  const base = yesterdayAt('01:00').getTime();
  const sent = new Map<string, Message[]>(topics.map((t) => [t, []]));
  for (let i = 0; i < 3_000; i++) {
    const topic = topics[i % 2] as string;
    const m: Message = {
      // Keys of several symbols (cached partitions), some Buffers and some null (round robin).
      key: i % 11 === 0 ? null : i % 7 === 0 ? Buffer.from(`B${i % 13}`) : String(100_000 + (i % 29)),
      value: i % 97 === 0 ? null : Buffer.from(`value-${i}-${'x'.repeat(i % 50)}`),
    };
    // Out of order and sometimes missing: the batch's first and max timestamps must still be right.
    if (i % 5 !== 0) m.timestamp = String(base + ((i * 7_919) % 60_000));
    if (i % 3 === 0) m.headers = { h: `v${i}`, bytes: Buffer.from([i & 0xff, 0]), many: [`a${i}`, `b${i}`] };
    sent.get(topic)?.push(m);
  }
  const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const before = Date.now();
  try {
    await producer.sendBatch({ acks: -1, topicMessages: topics.map((topic) => ({ topic, messages: sent.get(topic) ?? [] })) });
  } finally {
    await producer.disconnect();
  }
  const after = Date.now();

  const defaultPartitioner = Partitioners.DefaultPartitioner();
  const metadata: PartitionMetadata[] = Array.from({ length: 6 }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
  for (const topic of topics) {
    const expected = sent.get(topic) ?? [];
    const got = await readTopicRecords(topic, { count: expected.length });
    // Every record once, and per key in the order sent (a key lives in one partition).
    const byValue = new Map(got.map((g) => [g.message.value?.toString() ?? `null@${g.partition}:${g.message.offset}`, g]));
    let nullValues = 0;
    for (const m of expected) {
      if (m.value === null) {
        nullValues++;
        continue;
      }
      const g = byValue.get(m.value?.toString() ?? '');
      assert.ok(g, `record ${m.value?.toString()} came back`);
      assert.equal(g.message.key?.toString() ?? null, m.key === null || m.key === undefined ? null : m.key.toString());
      if (m.timestamp !== undefined) assert.equal(g.message.timestamp, m.timestamp, 'create time kept');
      else assert.ok(Number(g.message.timestamp) >= before && Number(g.message.timestamp) <= after, 'no timestamp: the send time');
      const headers = Object.fromEntries(Object.entries(g.message.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : v?.toString()]));
      const want = m.headers ? { h: String(m.headers['h']), bytes: (m.headers['bytes'] as Buffer).toString(), many: (m.headers['many'] as string[]).map(String) } : {};
      assert.deepEqual(headers, want);
      if (m.key !== null && m.key !== undefined) {
        assert.equal(g.partition, defaultPartitioner({ topic, partitionMetadata: metadata, message: { ...m } }), 'the partition kafkajs (and Java) would choose for the key');
      }
    }
    assert.equal(got.filter((g) => g.message.value === null).length, nullValues);
    assert.equal(got.length, expected.length);
  }
});

// The patched AddOffsetsToTxn retry (producer/eosManager) against the real transaction coordinator: a
// transaction that starts with its offsets, right after the previous commit, meets a coordinator still
// writing that commit's markers (CONCURRENT_TRANSACTIONS). Unpatched kafkajs threw it: 42 of 200 such
// transactions failed on this machine, and the stream runtime restarted its session on each. The
// coordinators are remembered: unpatched kafkajs asked for one before each of the three requests.
test('offsets-only transactions back to back all commit, the group ends at the last offset sent, and the coordinators are looked up once', async () => {
  const ns = freshNamespace('kjstxn');
  const topic = `${ns.topicNamespace}in`;
  const groupId = `${ns.id}-txn`;
  const kafka = createKafka({ brokers: stackEnv().KAFKA_BROKERS.split(','), clientId: 'kafkajs-patches-test', logger: createLogger('test', { level: 'warn' }) });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [{ name: topic, partitions: 1, config: {} }]);
    // The stream runtime's producer settings.
    const producer = createProducer(kafka, { transactionalId: `${ns.id}-txn`, idempotent: true, maxInFlightRequests: 1, retry: TRANSACTION_RETRY });
    const requests = new Map<string, number>();
    producer.on(producer.events.REQUEST, ({ payload }) => requests.set(payload.apiName, (requests.get(payload.apiName) ?? 0) + 1));
    await producer.connect();
    const transactions = 200;
    try {
      for (let i = 1; i <= transactions; i++) {
        const txn = await producer.transaction();
        try {
          await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: String(i) }] }] });
          await txn.commit();
        } catch (err) {
          await txn.abort().catch(() => undefined);
          throw new Error(`transaction ${i} of ${transactions} failed: ${(err as Error).message}`, { cause: err });
        }
      }
    } finally {
      await producer.disconnect();
    }
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    assert.deepEqual(committed?.partitions.map((p) => [p.partition, p.offset]), [[0, String(transactions)]]);
    assert.equal(requests.get('EndTxn'), transactions);
    // The transaction coordinator (for InitProducerId, then kept, also through CONCURRENT_TRANSACTIONS
    // answers) and the group coordinator. Unpatched: three more a transaction (655 for 200, measured).
    assert.equal(requests.get('GroupCoordinator'), 2, `FindCoordinator requests: ${JSON.stringify([...requests])}`);
  } finally {
    await admin.disconnect();
  }
});
