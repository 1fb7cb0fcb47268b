import { Kafka, logLevel, type Admin, type KafkaConfig, type LogEntry, type Producer, type ProducerConfig } from 'kafkajs';
import type { Logger } from './logger.js';
import type { TopicSpec } from './topics.js';
import { defineConfig } from './config.js';
import { cachedDefaultPartitioner } from './partitioner.js';

export const kafkaConfigSpec = defineConfig({
  brokers: { env: 'KAFKA_BROKERS', type: 'list', default: ['127.0.0.1:9092'], minItems: 1, itemPattern: /^[^\s:]+:\d+$/, doc: 'Kafka bootstrap servers, host:port, comma separated' },
  clientId: { env: 'KAFKA_CLIENT_ID', type: 'optional-string', doc: 'Kafka client id (defaults to the service name)' },
  topicNamespace: { env: 'TOPIC_NAMESPACE', type: 'string', default: '', pattern: /^[A-Za-z0-9._-]*$/, doc: 'prefix for every topic name (tests use a fresh one each)' },
  topicPartitions: { env: 'TOPIC_PARTITIONS', type: 'int', default: 6, min: 1, max: 1000, doc: 'partitions for topics this service creates' },
});

export const consumerConfigSpec = defineConfig({
  sessionTimeoutMs: { env: 'CONSUMER_SESSION_TIMEOUT_MS', type: 'int', default: 10_000, min: 6_000, max: 300_000, doc: 'how long the group waits for a silent (e.g. killed) member before its partitions move' },
});

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

// We use kafkajs's default (murmur2, Java-compatible) partitioner on purpose; silence its v2 notice.
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] ??= '1';

/** kafkajs client whose own logs go through our pino logger (WARN and above by default). */
export function createKafka(
  opts: { brokers: readonly string[]; clientId: string; logger: Logger } & Omit<Partial<KafkaConfig>, 'brokers'>,
): Kafka {
  const { brokers, clientId, logger, ...rest } = opts;
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return new Kafka({
    brokers: [...brokers],
    clientId,
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const level = LEVELS[entry.level] ?? 'info';
      const { message, ...extra } = entry.log;
      kafkaLogger[level]({ kafkajs: entry.namespace, ...extra }, message);
    },
    ...rest,
  });
}

/** Every producer of the project: kafkajs's default partitioning, with the per-key result cached. */
export function createProducer(kafka: Kafka, config: ProducerConfig = {}): Producer {
  return kafka.producer({ createPartitioner: cachedDefaultPartitioner, ...config });
}

/** Creates the topics that do not exist yet (auto-creation is off on our brokers, on purpose). */
export async function ensureTopics(admin: Admin, topics: readonly TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.name));
  if (missing.length === 0) return;
  const unique = [...new Map(missing.map((t) => [t.name, t])).values()];
  await admin.createTopics({
    waitForLeaders: true,
    topics: unique.map((t) => ({
      topic: t.name,
      numPartitions: t.partitions,
      replicationFactor: 1,
      configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })),
    })),
  });
}
