import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { stackEnv } from './stack.js';

export function testKafka(): Kafka {
  return new Kafka({ brokers: stackEnv().KAFKA_BROKERS.split(','), clientId: 'test', logLevel: logLevel.NOTHING });
}

export interface ReadOptions {
  count?: number;
  timeoutMs?: number;
  quietMs?: number;
  readUncommitted?: boolean;
}

/**
 * Reads a topic from the beginning with a throw-away group until `count` messages arrived, or
 * until the topic has been quiet for `quietMs` after at least one message when count is omitted.
 */
export async function readTopic(topic: string, opts: ReadOptions = {}): Promise<KafkaMessage[]> {
  return (await readTopicRecords(topic, opts)).map((r) => r.message);
}

/** readTopic, with the partition each message was read from. */
export async function readTopicRecords(topic: string, opts: ReadOptions = {}): Promise<Array<{ partition: number; message: KafkaMessage }>> {
  const { count, timeoutMs = 60_000, quietMs = 2_000 } = opts;
  const kafka = testKafka();
  const consumer = kafka.consumer({ groupId: `test-reader-${randomBytes(4).toString('hex')}`, readUncommitted: opts.readUncommitted ?? false });
  const records: Array<{ partition: number; message: KafkaMessage }> = [];
  let lastAt = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push({ partition, message });
        lastAt = Date.now();
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (count !== undefined && records.length >= count) break;
      if (count === undefined && records.length > 0 && Date.now() - lastAt > quietMs) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (count !== undefined && records.length < count) {
      throw new Error(`read ${records.length} of ${count} messages from ${topic} in ${timeoutMs} ms`);
    }
    return records;
  } finally {
    await consumer.disconnect();
  }
}

/**
 * The node id of the broker that coordinates a consumer group: the leader of the __consumer_offsets
 * partition the broker assigns the group to (Java's String.hashCode of the group id, Kafka's
 * Utils.abs, modulo the partitions), as a Kafka broker computes it.
 */
export async function groupCoordinatorOf(groupId: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const [offsets] = (await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] })).topics;
    const partitions = offsets?.partitions ?? [];
    let hash = 0;
    for (let i = 0; i < groupId.length; i++) hash = (Math.imul(31, hash) + groupId.charCodeAt(i)) | 0;
    const index = (hash === -2147483648 ? 0 : Math.abs(hash)) % partitions.length;
    const leader = partitions.find((p) => p.partitionId === index)?.leader;
    if (leader === undefined) throw new Error(`no leader for __consumer_offsets partition ${index} (group ${groupId})`);
    return leader;
  } finally {
    await admin.disconnect();
  }
}
