import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Partitioners, type Message, type PartitionMetadata } from 'kafkajs';

// The retry of kafkajs's send as patched by patches/kafkajs+2.2.4.patch (producer/sendMessages.js),
// against brokers that keep an idempotent producer's sequence numbers the way Kafka does: a batch at
// the next sequence is appended, a batch whose first and last sequence equal one already written is a
// duplicate (acknowledged, not written again, whatever its records), anything else is
// OUT_OF_ORDER_SEQUENCE_NUMBER. The real round trip is test/integration/kafkajs-patches.test.ts.
const require = createRequire(import.meta.url);
const createSendMessages = require('kafkajs/src/producer/sendMessages.js') as (deps: unknown) => (args: {
  acks: number;
  timeout?: number;
  topicMessages: Array<{ topic: string; messages: Message[] }>;
}) => Promise<unknown[]>;
const createRetry = require('kafkajs/src/retry/index.js') as (opts: { initialRetryTime: number; retries: number }) => unknown;
const { KafkaJSConnectionError } = require('kafkajs/src/errors.js') as { KafkaJSConnectionError: new (m: string) => Error };

const TOPIC = 't';
const PARTITIONS = 6;

interface ProduceArgs {
  topicData: Array<{ topic: string; partitions: Array<{ partition: number; firstSequence: number; messages: Message[] }> }>;
}

interface PartitionLog {
  records: Message[];
  nextSequence: number;
  /** [first, last] sequence of every batch written */
  batches: Array<[number, number]>;
}

/** A broker leading the partitions p with p % 2 === nodeId. `loseResponse` writes a produce, then fails it as a dropped connection would. */
class FakeBroker {
  readonly logs = new Map<number, PartitionLog>();
  /** every record offered to this broker, with the partition it was offered for */
  readonly offered: Array<{ message: Message; partition: number }> = [];
  loseResponses = 0;

  constructor(readonly nodeId: number) {}

  async produce({ topicData }: ProduceArgs) {
    const partitions: Array<{ partition: number; errorCode: number; baseOffset: string }> = [];
    for (const { partitions: entries } of topicData) {
      for (const { partition, firstSequence, messages } of entries) {
        for (const message of messages) this.offered.push({ message, partition });
        const log = this.logs.get(partition) ?? { records: [], nextSequence: 0, batches: [] };
        this.logs.set(partition, log);
        const last = firstSequence + messages.length - 1;
        if (log.batches.some(([f, l]) => f === firstSequence && l === last)) continue;
        if (firstSequence !== log.nextSequence) {
          throw Object.assign(new Error(`OUT_OF_ORDER_SEQUENCE_NUMBER on partition ${partition}: got ${firstSequence}, expected ${log.nextSequence}`), { retriable: false });
        }
        log.records.push(...messages);
        log.batches.push([firstSequence, last]);
        log.nextSequence = last + 1;
        partitions.push({ partition, errorCode: 0, baseOffset: String(log.records.length - messages.length) });
      }
    }
    await Promise.resolve();
    if (this.loseResponses > 0) {
      this.loseResponses--;
      throw new KafkaJSConnectionError(`connection to broker ${this.nodeId} closed before its response`);
    }
    return { topics: [{ topicName: TOPIC, partitions }] };
  }
}

function harness() {
  const brokers = [new FakeBroker(0), new FakeBroker(1)];
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: PARTITIONS }, (_, partitionId) => ({ partitionId, leader: partitionId % 2, replicas: [partitionId % 2], isr: [partitionId % 2], partitionErrorCode: 0 }));
  const cluster = {
    targetTopics: new Set<string>(),
    async refreshMetadataIfNecessary() {},
    async refreshMetadata() {},
    async addMultipleTargetTopics(topics: string[]) {
      for (const t of topics) this.targetTopics.add(t);
    },
    findTopicPartitionMetadata: () => partitionMetadata,
    findLeaderForPartitions(_topic: string, partitions: string[]) {
      const perLeader: Record<string, number[]> = {};
      for (const p of partitions.map(Number)) (perLeader[p % 2] ??= []).push(p);
      return perLeader;
    },
    findBroker: async ({ nodeId }: { nodeId: string }) => brokers[Number(nodeId)],
    isConnected: () => true,
    removeBroker() {},
  };
  // The idempotent producer's bookkeeping as kafkajs's eosManager keeps it (no transaction).
  const sequences = new Map<number, number>();
  const eosManager = {
    acquireBrokerLock: async () => {},
    releaseBrokerLock: async () => {},
    isTransactional: () => false,
    getSequence: (_topic: string, partition: number) => sequences.get(partition) ?? 0,
    updateSequence: (_topic: string, partition: number, increment: number) => sequences.set(partition, (sequences.get(partition) ?? 0) + increment),
    getProducerId: () => 1,
    getProducerEpoch: () => 0,
  };
  const errors: string[] = [];
  const logger = { debug() {}, info() {}, warn() {}, error: (message: string) => errors.push(message) };
  const send = createSendMessages({ logger, cluster, partitioner: Partitioners.DefaultPartitioner(), eosManager, retrier: createRetry({ initialRetryTime: 1, retries: 5 }) });
  return { brokers, send, errors };
}

/** Half of the records have no key (round robin: a counter that moves on every call; a number of them not a multiple of the partitions, so a regrouping lands them elsewhere), half a symbol's key. */
function records(n: number): Message[] {
  return Array.from({ length: n }, (_, i) => ({ key: i % 2 === 0 ? null : `00${(i * 37) % 997}`, value: Buffer.from(`r${i}`) }));
}

test('a send whose first attempt was written but its response lost is retried with the same records per partition: every record once, in order', async () => {
  for (const lost of [0, 1]) {
    const { brokers, send, errors } = harness();
    (brokers[lost] as FakeBroker).loseResponses = 1;
    const messages = records(601);
    await send({ acks: -1, topicMessages: [{ topic: TOPIC, messages }] });

    assert.equal(errors.length, 1, `one failed attempt (broker ${lost}), then a retry: ${errors.join('; ')}`);
    const partitionOf = new Map<Message, Set<number>>();
    for (const { message, partition } of brokers.flatMap((b) => b.offered)) {
      const seen = partitionOf.get(message) ?? new Set<number>();
      partitionOf.set(message, seen.add(partition));
    }
    for (const [message, seen] of partitionOf) {
      assert.equal(seen.size, 1, `record ${message.value?.toString()} (key ${String(message.key)}) was offered to partitions ${[...seen].join(', ')}`);
    }
    const written = brokers.flatMap((b) => [...b.logs.values()].map((log) => log.records));
    assert.equal(written.flat().length, messages.length, 'every record written once');
    assert.deepEqual(new Set(written.flat()), new Set(messages));
    for (const log of written) {
      assert.deepEqual(log, messages.filter((m) => log.includes(m)), 'a partition holds its records in the order sent');
    }
  }
});

test('a send whose first attempt failed before any write sends the same grouping again, and a later send continues the sequences', async () => {
  const { brokers, send } = harness();
  const broker1 = brokers[1] as FakeBroker;
  const produce = broker1.produce.bind(broker1);
  let refusals = 1;
  broker1.produce = async (args) => {
    if (refusals-- > 0) throw new KafkaJSConnectionError('connection refused');
    return produce(args);
  };
  const first = records(301);
  const second = records(301).map((m, i) => ({ ...m, value: Buffer.from(`s${i}`) }));
  await send({ acks: -1, topicMessages: [{ topic: TOPIC, messages: first }] });
  await send({ acks: -1, topicMessages: [{ topic: TOPIC, messages: second }] });
  const written = brokers.flatMap((b) => [...b.logs.values()].map((log) => log.records)).flat();
  assert.equal(written.length, 602);
  assert.deepEqual(new Set(written), new Set([...first, ...second]));
});
