import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import avro from 'avsc';
import { untilBrokerAnswers } from '../../lib/kafka.js';
import type { AvroSerde } from '../../lib/serde.js';
import { StockSchema } from '../../schemas/generated/schemas.js';
import type { Stock } from '../../schemas/generated/types.js';

/**
 * Reads the compacted listings topic from the start to its current end: the poller's memory of
 * which stocks exist, so a restart neither re-publishes every listing nor forgets a delisting.
 */
export async function readStocks(kafka: Kafka, topic: string, serde: AvroSerde): Promise<Stock[]> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `krx-listings-restore-${randomBytes(4).toString('hex')}`;
  try {
    const ends = (await untilBrokerAnswers(`end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic))).filter((p) => Number(p.high) > Number(p.low));
    if (ends.length === 0) return [];
    const reader = avro.Type.forSchema(StockSchema);
    const latest = new Map<string, Stock>();
    const remaining = new Map(ends.map((p) => [p.partition, Number(p.high)]));
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const msg of batch.messages) {
              if (msg.value) {
                const s = await serde.decode<Stock>(msg.value, reader);
                latest.set(s.code, s);
              }
              const end = remaining.get(batch.partition);
              if (end !== undefined && Number(msg.offset) + 1 >= end) remaining.delete(batch.partition);
            }
            if (remaining.size === 0) resolve();
          },
        }).catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    return [...latest.values()];
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
