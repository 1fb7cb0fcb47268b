import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { after } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epochDayToIso, isoToEpochDay } from '../../../lib/time.js';
import type { FakeBar } from '../../fakes/krx/market.js';
import { FakeKrxServer, type FakeKrxOptions } from '../../fakes/krx/server.js';
import { sliceEnv, stopAll } from '../../helpers/pipeline.js';
import { freshSchema, pgQuery } from '../../helpers/postgres.js';
import { waitFor } from '../../helpers/wait.js';
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

/** A bar as the summary sees it: its date (YYYY-MM-DD) and market, and the numbers it sums. */
export interface SummaryInput {
  date: string;
  market: string;
  volume: number;
  tradedValue: number;
  changeRate: number;
  change: number;
}

/**
 * The daily market summary computed by hand from bars (traded stocks only: volume > 0), checked
 * against the schema's `daily_market_summary` once the sink's refresher has no date pending.
 */
export async function assertSummaryOf(schema: string, bars: Iterable<SummaryInput>, timeoutMs = 60_000): Promise<void> {
  await waitFor('no date pending in the daily summary', async () => {
    const [r] = await pgQuery<{ n: string }>(schema, 'select count(*) n from daily_market_summary_pending');
    return Number(r?.n) === 0 ? true : undefined;
  }, { timeoutMs, intervalMs: 100 });
  const hand = new Map<string, { traded: number; value: number; sumRate: number; up: number; down: number; flat: number }>();
  for (const b of bars) {
    if (b.volume === 0) continue;
    const k = `${b.date}|${b.market}`;
    const h = hand.get(k) ?? { traded: 0, value: 0, sumRate: 0, up: 0, down: 0, flat: 0 };
    h.traded++;
    h.value += b.tradedValue;
    h.sumRate += b.changeRate;
    if (b.change > 0) h.up++;
    else if (b.change < 0) h.down++;
    else h.flat++;
    hand.set(k, h);
  }
  const summary = await pgQuery<{ date: string; market: string; stocks_traded: number; traded_value: string; average_return: number; advancers: number; decliners: number; unchanged: number }>(
    schema, "select to_char(date, 'YYYY-MM-DD') date, market, stocks_traded, traded_value, average_return, advancers, decliners, unchanged from daily_market_summary");
  assert.equal(summary.length, hand.size, 'one summary row per date and market with traded bars');
  for (const s of summary) {
    const h = hand.get(`${s.date}|${s.market}`);
    assert.ok(h, `summary row ${s.date} ${s.market} has bars`);
    assert.deepEqual([s.stocks_traded, Number(s.traded_value), s.advancers, s.decliners, s.unchanged], [h.traded, h.value, h.up, h.down, h.flat], `${s.date} ${s.market}`);
    assert.ok(Math.abs(s.average_return - h.sumRate / h.traded) < 1e-9, `${s.date} ${s.market} average return`);
  }
}
