/**
 * kafkajs's produce path on its own: 200,000 pre-built messages (6-character keys like symbols,
 * 90-byte values, a timestamp each) sent by one idempotent producer in requests of 2,000 to a topic
 * of 6 partitions, acks=all. Measured: messages acknowledged per second and CPU per message of this
 * process, which does nothing else. patches/kafkajs+2.2.4.patch and the cached partitioner
 * (lib/partitioner.ts) are what this measures: with node_modules/kafkajs swapped for the unpatched
 * 2.2.4, the same scenario measured 44,588 messages/s and 19.9 µs per message (2026-11-22).
 */
import { randomBytes } from 'node:crypto';
import { createKafka, createProducer, ensureTopics } from '../../lib/kafka.js';
import { createLogger } from '../../lib/logger.js';
import { stackEnv } from '../../test/helpers/stack.js';
import { cpuTimes, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';

const MESSAGES = 200_000;
const BATCH = 2_000;

export const scenario: BenchScenario = {
  name: 'kafkajs-produce',
  description: `kafkajs (patched) alone: ${MESSAGES.toLocaleString('en-US')} messages in requests of ${BATCH.toLocaleString('en-US')} from one idempotent producer, acks=all`,
  needsStack: true,
  async run(): Promise<BenchFigure[]> {
    const kafka = createKafka({ brokers: stackEnv().KAFKA_BROKERS.split(','), clientId: 'bench-kafkajs', logger: createLogger('bench', { level: 'error' }) });
    const topic = `bench-kafkajs-${randomBytes(4).toString('hex')}`;
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ name: topic, partitions: 6, config: {} }]);
    await admin.disconnect();
    const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const now = Date.now();
      const messages = Array.from({ length: MESSAGES }, (_, i) => ({ key: String(100_000 + (i % 2_880)), value: randomBytes(90), timestamp: String(now + i) }));
      await producer.send({ topic, messages: messages.slice(0, BATCH) }); // warm-up: connections, metadata, JIT
      const machine = cpuTimes();
      const cpu = process.cpuUsage();
      const start = performance.now();
      for (let i = 0; i < MESSAGES; i += BATCH) await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: messages.slice(i, i + BATCH) }] });
      const seconds = (performance.now() - start) / 1000;
      const used = process.cpuUsage(cpu);
      const steal = stealShare(machine, cpuTimes());
      return [
        { name: 'messages acknowledged per second', value: Math.round(MESSAGES / seconds), unit: 'messages/s', notes: `${MESSAGES} messages in ${seconds.toFixed(2)} s; ${Math.round(steal * 100)}% steal` },
        { name: 'CPU per message (this process: grouping, encoding, CRC, I/O)', value: Number(((used.user + used.system) / MESSAGES).toFixed(1)), unit: 'µs', higherIsBetter: false },
      ];
    } finally {
      await producer.disconnect();
    }
  },
};
