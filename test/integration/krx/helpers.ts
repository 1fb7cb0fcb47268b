import { mkdtempSync } from 'node:fs';
import { after } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epochDayToIso, isoToEpochDay } from '../../../lib/time.js';
import type { FakeBar } from '../../fakes/krx/market.js';
import { FakeKrxServer, type FakeKrxOptions } from '../../fakes/krx/server.js';
import { sliceEnv, stopAll } from '../../helpers/pipeline.js';
import { freshSchema } from '../../helpers/postgres.js';
import { startService, type RunningService } from '../../helpers/service-process.js';
import { stackEnv } from '../../helpers/stack.js';

/** One KRX test's world: a fake KRX, its own topics, QuestDB tables, Postgres schema and groups. */
export async function krxWorld(name: string, fakeOptions: FakeKrxOptions = {}) {
  const { ns, common } = sliceEnv(name);
  const fake = await FakeKrxServer.start({ paceMs: 0, universe: 60, seed: 7, today: '2026-11-30', ...fakeOptions });
  const schema = freshSchema(name);
  const env: Record<string, string> = {
    ...common,
    POSTGRES_URL: stackEnv().POSTGRES_URL,
    POSTGRES_SCHEMA: schema,
    POSTGRES_SINK_GROUP_ID: `${ns.id}-postgres-sink`,
    KRX_DATA_URL: fake.url,
    KRX_OPENAPI_URL: fake.url,
    KRX_ID: 'fake-member',
    KRX_PW: 'fake-password',
    KRX_AUTH_KEY: 'fake-auth-key',
    KRX_MIN_INTERVAL_MS: '0',
    KRX_OPENAPI_MIN_INTERVAL_MS: '0',
    KRX_BACKOFF_BASE_MS: '50',
    BACKFILL_PROGRESS_INTERVAL_MS: '500',
    BACKFILL_CHECKPOINT_FILE: join(mkdtempSync(join(tmpdir(), 'krx-backfill-')), 'checkpoint.json'),
  };
  return {
    ns,
    fake,
    schema,
    env,
    questdbTable: `${ns.tablePrefix}daily_bars`,
    postgresSink: (extra: Record<string, string> = {}): RunningService => startService('sinks/postgres/main.js', { ...env, ...extra }),
    questdbSink: (): RunningService => startService('sinks/questdb/main.js', { ...env, SINK_TOPICS: 'krx.daily-bars.v1' }),
    backfill: (extra: Record<string, string> = {}): RunningService => startService('producers/krx/backfill.js', { ...env, ...extra }),
    poller: (extra: Record<string, string> = {}): RunningService => startService('producers/krx/main.js', { ...env, KRX_RUN_ONCE: 'true', ...extra }),
  };
}

/** What the fake serves for a date range: every listed stock's bar of every trading day. */
export function expectedBars(fake: FakeKrxServer, from: string, to: string): FakeBar[] {
  const out: FakeBar[] = [];
  for (let d = isoToEpochDay(from); d <= isoToEpochDay(to); d++) out.push(...(fake.market.barsOn(d) ?? []));
  return out;
}

export const isoDay = epochDayToIso;

/** What a test file started and must stop: services first, then the rest (fakes, schemas) in order. */
export function testScope(): { running: RunningService[]; cleanup: Array<() => Promise<void>> } {
  const scope = { running: [] as RunningService[], cleanup: [] as Array<() => Promise<void>> };
  after(async () => {
    await stopAll(...scope.running);
    for (const c of scope.cleanup) await c();
  });
  return scope;
}
