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
