import { Kafka, logLevel, type Admin, type KafkaConfig, type LogEntry, type Producer, type ProducerConfig } from 'kafkajs';
import type { Logger } from './logger.js';
import type { TopicSpec } from './topics.js';
import { defineConfig } from './config.js';
import { AppError } from './errors.js';
import { cachedDefaultPartitioner } from './partitioner.js';
import { KafkaLogLevels } from './kafka-log.js';

export const kafkaConfigSpec = defineConfig({
  brokers: { env: 'KAFKA_BROKERS', type: 'list', default: ['127.0.0.1:9092'], minItems: 1, itemPattern: /^[^\s:]+:\d+$/, doc: 'Kafka bootstrap servers, host:port, comma separated' },
  clientId: { env: 'KAFKA_CLIENT_ID', type: 'optional-string', doc: 'Kafka client id (defaults to the service name)' },
  topicNamespace: { env: 'TOPIC_NAMESPACE', type: 'string', default: '', pattern: /^[A-Za-z0-9._-]*$/, doc: 'prefix for every topic name (tests use a fresh one each)' },
  topicPartitions: { env: 'TOPIC_PARTITIONS', type: 'int', default: 6, min: 1, max: 1000, doc: 'partitions for topics this service creates' },
  replicationFactor: { env: 'KAFKA_REPLICATION_FACTOR', type: 'int', default: -1, min: -1, max: 32, doc: "replicas of each topic this service creates (-1: the cluster's default.replication.factor; 3 on a production cluster)" },
  minInsyncReplicas: { env: 'KAFKA_MIN_INSYNC_REPLICAS', type: 'int', default: 0, min: 0, max: 32, doc: "min.insync.replicas of each topic this service creates (0: the cluster's default; 2 with 3 replicas)" },
  maxOutageMs: { env: 'KAFKA_MAX_OUTAGE_MS', type: 'int', default: 180_000, min: 10_000, doc: 'how long an unreachable Kafka is retried before a service gives up (the Java producer holds records 120 s by default)' },
});

/** Longest back-off between two attempts: a broker that is back is noticed within this. */
const MAX_RETRY_TIME_MS = 5_000;
const INITIAL_RETRY_TIME_MS = 300;
const RETRY_FACTOR = 0.2; // kafkajs's default jitter: each wait is ±20 % of the nominal one

/**
 * kafkajs retry settings that keep retrying for at least `outageMs`. kafkajs's default (5 retries,
 * about 11 s) made the simulator and the candle processor exit during a ten-second broker restart:
 * the idempotent producer retries a send forever, but the reconnect inside each attempt gives up
 * after the client's retries with a non-retriable error. Counted with the shortest wait jitter allows.
 */
export function retryCovering(outageMs: number): { initialRetryTime: number; maxRetryTime: number; retries: number; factor: number; multiplier: number } {
  let wait = INITIAL_RETRY_TIME_MS * (1 - RETRY_FACTOR);
  let total = 0;
  let retries = 0;
  while (total < outageMs) {
    total += wait;
    retries++;
    wait = Math.min(wait * (1 - RETRY_FACTOR) * 2, MAX_RETRY_TIME_MS);
  }
  return { initialRetryTime: INITIAL_RETRY_TIME_MS, maxRetryTime: MAX_RETRY_TIME_MS, retries, factor: RETRY_FACTOR, multiplier: 2 };
}

/**
 * The retry settings of every long-lived consumer: it gives up (and is restarted, or its session
 * replaced) after failing for twice its session timeout, not after KAFKA_MAX_OUTAGE_MS. A kafkajs
 * consumer keeps the group coordinator it joined through: when that broker dies, its heartbeats and
 * so its whole fetch loop fail against the dead one until the retries run out, and only a restart
 * looks the coordinator up again. With the client's retries (180 s) a consumer whose coordinator was
 * killed delivered nothing for three minutes while two brokers served (found by the three-broker
 * failover test). By twice the session timeout the group has dropped the member anyway, and a
 * consumer that is restarted during a real outage waits for Kafka in its reconnect, as before.
 */
export function consumerRetry(sessionTimeoutMs: number): ReturnType<typeof retryCovering> {
  return retryCovering(2 * sessionTimeoutMs);
}

export const consumerConfigSpec = defineConfig({
  sessionTimeoutMs: { env: 'CONSUMER_SESSION_TIMEOUT_MS', type: 'int', default: 10_000, min: 6_000, max: 300_000, doc: 'how long the group waits for a silent (e.g. killed) member before its partitions move' },
});

// We use kafkajs's default (murmur2, Java-compatible) partitioner on purpose; silence its v2 notice.
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] ??= '1';

/**
 * kafkajs client whose own logs go through our pino logger, with the conditions kafkajs retries by
 * itself (broker away, coordinator moving) downgraded: see KafkaLogLevels. kafkajs logs WARN and above,
 * and everything when the service runs at LOG_LEVEL=debug: a client that stops delivering leaves no
 * trace of what it was doing otherwise (every request it sends and every answer).
 */
export function createKafka(
  opts: { brokers: readonly string[]; clientId: string; logger: Logger; maxOutageMs?: number } & Omit<Partial<KafkaConfig>, 'brokers'>,
): Kafka {
  const { brokers, clientId, logger, maxOutageMs = kafkaConfigSpec.maxOutageMs.default, ...rest } = opts;
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  const levels = new KafkaLogLevels();
  return new Kafka({
    brokers: [...brokers],
    clientId,
    logLevel: logger.isLevelEnabled('debug') ? logLevel.DEBUG : logLevel.WARN,
    retry: retryCovering(maxOutageMs),
    logCreator: () => (entry: LogEntry) => {
      const level = levels.levelOf(entry);
      const { message, ...extra } = entry.log;
      kafkaLogger[level]({ kafkajs: entry.namespace, ...extra }, message);
    },
    ...rest,
  });
}

/** Every producer of the project: kafkajs's default partitioning, with the per-key result cached. */
export function createProducer(kafka: Kafka, config: ProducerConfig = {}): Producer {
  // An idempotent producer retries a send without limit (kafkajs's own default, which the client-wide
  // retry settings would otherwise cap); each attempt's reconnect is bounded by KAFKA_MAX_OUTAGE_MS.
  const retry = config.idempotent && !config.retry ? { retries: Number.MAX_SAFE_INTEGER } : config.retry;
  return kafka.producer({ createPartitioner: cachedDefaultPartitioner, ...config, ...(retry ? { retry } : {}) });
}

/**
 * Creates the topics that do not exist yet (auto-creation is off on our brokers, on purpose) and waits
 * until every partition of every topic has a leader. Services start together and create the same
 * topics at once: a topic another service just created is not an error, and neither is a broker that
 * does not host its partitions yet (kafkajs's own leader wait gives up on that answer, which made a
 * normal start of the pipeline fail now and then).
 */
export async function ensureTopics(admin: Admin, topics: readonly TopicSpec[], placement: TopicPlacement = {}, timeoutMs = 30_000): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.name));
  if (missing.length === 0) return;
  const unique = [...new Map(missing.map((t) => [t.name, t])).values()];
  const minIsr = placement.minInsyncReplicas ? { 'min.insync.replicas': String(placement.minInsyncReplicas) } : {};
  await admin.createTopics({
    waitForLeaders: false,
    topics: unique.map((t) => ({
      topic: t.name,
      numPartitions: t.partitions,
      replicationFactor: placement.replicationFactor ?? -1,
      configEntries: Object.entries({ ...t.config, ...minIsr }).map(([name, value]) => ({ name, value })),
    })),
  });
  await waitForLeaders(admin, unique.map((t) => t.name), timeoutMs);
}

/**
 * Runs an admin read again while the broker answers something kafkajs itself marks retriable. A
 * broker that has just restarted lists its partitions with itself as leader before it has loaded
 * them, and answers NOT_LEADER_FOR_PARTITION to offset requests meanwhile (measured: 4 to 7 such
 * answers over ~0.5 s, with 3,000 partitions); kafkajs's admin gives up on that answer at once, which
 * stopped the KRX poller at start-up in a CI run. Anything else, and a broker that keeps answering so for `timeoutMs`, is thrown.
 */
export async function untilBrokerAnswers<T>(what: string, call: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let wait = 50;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if ((err as { retriable?: unknown }).retriable !== true) throw err;
      if (Date.now() + wait > deadline) {
        throw new AppError('KAFKA_UNAVAILABLE', `${what}: the broker still answers "${(err as Error).message}" after ${timeoutMs} ms`, { retryable: true, cause: err });
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 1_000);
    }
  }
}

/** Where a service's topics are placed; absent fields take the cluster's defaults. */
export interface TopicPlacement {
  replicationFactor?: number;
  minInsyncReplicas?: number;
}

/** Asks until every partition of `names` has a leader: a topic just created has none for a moment. */
async function waitForLeaders(admin: Admin, names: string[], timeoutMs: number): Promise<void> {
  await untilBrokerAnswers(`leaders of ${names.join(', ')}`, async () => {
    const { topics } = await admin.fetchTopicMetadata({ topics: names });
    const led = topics.length === names.length && topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
    if (!led) throw Object.assign(new Error('a partition without a leader'), { retriable: true });
  }, timeoutMs);
}

/**
 * Broker answers that refuse a produced record for what it is, so sending it again fails the same
 * way: a poison pill, not an outage. kafkajs marks them not retriable and throws at once.
 */
const REFUSALS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_TIMESTAMP', 'INVALID_RECORD']);

/** `err` and the errors it wraps (kafkajs wraps a cause in `cause` or `originalError`), outermost first. */
function* causeChain(err: unknown): Generator<{ type?: unknown }> {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    yield e as { type?: unknown };
    const { cause, originalError } = e as { cause?: unknown; originalError?: unknown };
    e = cause ?? originalError;
  }
}

/** The Kafka protocol error behind `err` (e.g. 'CONCURRENT_TRANSACTIONS'); null when Kafka gave no answer (connection lost, timeout). */
export function kafkaErrorType(err: unknown): string | null {
  for (const e of causeChain(err)) if (typeof e.type === 'string') return e.type;
  return null;
}

/** The refusal behind `err`, as an OUTPUT_REFUSED error; null for anything else. */
export function asOutputRefused(err: unknown): AppError | null {
  for (const { type } of causeChain(err)) {
    if (typeof type === 'string' && REFUSALS.has(type)) {
      const hint = type === 'INVALID_TIMESTAMP' ? ' (stamped beyond log.message.timestamp.after/before.max.ms: look for an input with a wrong event time)' : type.endsWith('TOO_LARGE') ? ' (above message.max.bytes)' : '';
      return new AppError('OUTPUT_REFUSED', `the broker refuses a produced record: ${type}${hint}; sending it again cannot succeed`, { cause: err });
    }
  }
  return null;
}
