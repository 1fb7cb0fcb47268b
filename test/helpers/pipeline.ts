import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Tick } from '../../schemas/generated/types.js';
import { readTopic, testKafka } from './kafka.js';
import { startService, type RunningService } from './service-process.js';
import { freshNamespace, stackEnv } from './stack.js';
import { waitFor } from './wait.js';

/** Everything one slice test needs: its own topics, tables, groups, and the env to start services with. */
export function sliceEnv(name: string) {
  const ns = freshNamespace(name);
  const env = stackEnv();
  const common: Record<string, string> = {
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL,
    QUESTDB_HTTP_URL: env.QUESTDB_HTTP_URL,
    TOPIC_NAMESPACE: ns.topicNamespace,
    TOPIC_PARTITIONS: '3',
    QUESTDB_TABLE_PREFIX: ns.tablePrefix,
    CANDLES_APP_ID: `${ns.id}-candles`,
    SINK_GROUP_ID: `${ns.id}-questdb-sink`,
  };
  return { ns, common, ticksTopic: `${ns.topicNamespace}market.ticks.v1`, candlesTopic: `${ns.topicNamespace}market.candles.1s.v1` };
}

/** Runs the simulator to completion over a historical interval, as fast as Kafka takes it. */
export async function simulate(common: Record<string, string>, opts: { symbols: number; ticksPerSecond: number; seconds: number; start: string; seed?: number; orderBooks?: boolean }): Promise<void> {
  const sim = startService('producers/simulator/main.js', {
    ...common,
    SIM_SYMBOLS: String(opts.symbols),
    SIM_TICKS_PER_SECOND: String(opts.ticksPerSecond),
    SIM_DURATION_SECONDS: String(opts.seconds),
    SIM_START: opts.start,
    SIM_SPEED: '0',
    SIM_SEED: String(opts.seed ?? 42),
    SIM_ORDERBOOKS: String(opts.orderBooks ?? false),
  });
  const code = await sim.exited;
  if (code !== 0) throw new Error(`simulator exited ${code}:\n${sim.output().slice(-3000)}`);
}

/** Decodes a topic with a plain registry client that knows nothing of this project. */
export async function readTicks(topic: string, count: number): Promise<Tick[]> {
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const messages = await readTopic(topic, { count });
  return Promise.all(messages.map((m) => registry.decode(m.value as Buffer) as Promise<Tick>));
}

/** Waits until a consumer group has committed the end offset of every partition of `topic`. */
export async function waitForGroupCaughtUp(groupId: string, topic: string, timeoutMs = 90_000): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await waitFor(`${groupId} to catch up on ${topic}`, async () => {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const done = ends.every((e) => committed?.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
      return done ? true : undefined;
    }, { timeoutMs, intervalMs: 500 });
  } finally {
    await admin.disconnect();
  }
}

export async function stopAll(...services: Array<RunningService | undefined>): Promise<void> {
  await Promise.all(services.map((s) => s?.stop()));
}
