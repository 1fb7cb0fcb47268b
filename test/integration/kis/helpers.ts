import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Tick } from '../../../schemas/generated/types.js';
import type { FakeAccount, FakeKisServer } from '../../fakes/kis/server.js';
import { readTopic } from '../../helpers/kafka.js';
import type { RunningService } from '../../helpers/service-process.js';
import { stackEnv } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';
import { metricAt } from '../../helpers/metrics.js';
import { freshSpoolDir } from './outage-helpers.js';

export const ACCOUNTS: FakeAccount[] = [1, 2, 3].map((i) => ({
  appKey: `PSintegration${i}AppKey000000000000000`,
  appSecret: `SECRETintegration${i}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=`,
}));

/** Environment of a producer process pointed at an in-process fake, with its own topics. */
export function producerEnv(fake: FakeKisServer, topicNamespace: string, accounts: readonly FakeAccount[], extra: Record<string, string>): Record<string, string> {
  const env = stackEnv();
  return {
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL,
    TOPIC_NAMESPACE: topicNamespace,
    TOPIC_PARTITIONS: '3',
    KIS_APP_KEYS: accounts.map((a) => a.appKey).join(','),
    KIS_APP_SECRETS: accounts.map((a) => a.appSecret).join(','),
    KIS_REST_URL: fake.restUrl,
    KIS_WS_URL: fake.wsUrl,
    KIS_RECONNECT_BASE_MS: '50',
    KIS_RECONNECT_MAX_MS: '2000',
    // The fakes here release a dropped session's slot at once unless a test says otherwise.
    KIS_SLOT_HOLD_MS: '100',
    KIS_REQUEST_INTERVAL_MS: '10',
    LOG_LEVEL: 'debug',
    // Producers started at once must not share the default spool, nor inherit one a killed test left.
    KIS_SPOOL_DIR: freshSpoolDir(),
    ...extra,
  };
}


export async function health(port: number): Promise<{ status: string; sessions: Array<{ registrations: number; state: string }>; unplaced: { count: number; registrations: string[] } }> {
  return (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as never;
}

/**
 * Waits until every trade record the producer parsed is acknowledged by Kafka and nothing new comes
 * in, then returns how many ticks it produced.
 */
export async function settledTicks(port: number, ticksTopic: string): Promise<number> {
  let last = -1;
  return waitFor('the producer to settle', async () => {
    const parsed = await metricAt(port, 'kis_records_total', { tr_id: 'H0STCNT0' });
    const produced = await metricAt(port, 'kis_messages_produced_total', { topic: ticksTopic });
    const settled = parsed === produced && produced === last;
    last = produced;
    return settled ? produced : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });
}

/** Decodes `count` ticks with a plain registry client. */
export async function readAllTicks(topic: string, count: number): Promise<Tick[]> {
  if (count === 0) return [];
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const messages = await readTopic(topic, { count, timeoutMs: 60_000 });
  return Promise.all(messages.map((m) => registry.decode(m.value as Buffer) as Promise<Tick>));
}

/** No credential of `accounts` and no approval key the fake issued appears in the process output. */
export function leakedSecrets(service: RunningService, fake: FakeKisServer, accounts: readonly FakeAccount[]): string[] {
  const out = service.output();
  return [...accounts.flatMap((a) => [a.appKey, a.appSecret]), ...fake.issuedApprovalKeys()].filter((s) => out.includes(s));
}
