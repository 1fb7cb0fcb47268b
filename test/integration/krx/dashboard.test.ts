import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { dashboardTargets, expandSqlMacros, interpolateVariables } from '../../helpers/grafana.js';
import { dropSchema, pgQuery } from '../../helpers/postgres.js';
import { isoToMicros, questdbQuery } from '../../helpers/questdb.js';
import { REPO_ROOT, stackEnv } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';
import { expectedBars, isoDay, krxWorld, testScope } from './helpers.js';

const { running, cleanup } = testScope();

const FROM = '2025-01-01';
const TO = '2025-12-31';
const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'grafana', 'dashboards', 'krx-market.json'), 'utf8')) as Parameters<typeof dashboardTargets>[0];
const range = { from: new Date('2024-12-31T15:00:00Z'), to: new Date('2025-12-31T15:00:00Z') };

test('the KRX dashboard: every panel query runs as Grafana would run it, with data; the stock variable is "name (code)"; an injected value stays a string; weekly and monthly candles equal an independent computation', async () => {
  const w = await krxWorld('krxdash');
  cleanup.push(() => w.fake.close(), () => dropSchema(w.schema));
  const expected = expectedBars(w.fake, FROM, TO);
  const pgSink = w.postgresSink();
  const qdbSink = w.questdbSink();
  running.push(pgSink, qdbSink);
  const poller = w.poller({ KRX_DAILY_DATE: TO });
  running.push(poller);
  assert.equal(await poller.exited, 0, poller.output().slice(-2000));
  const backfill = w.backfill({ BACKFILL_FROM: FROM, BACKFILL_TO: TO, BACKFILL_CONCURRENCY: '2' });
  running.push(backfill);
  assert.equal(await backfill.exited, 0, backfill.output().slice(-2000));
  await waitFor('the year in both stores', async () => {
    const [p] = await pgQuery<{ n: string }>(w.schema, 'select count(*) n from daily_bars');
    const [q] = await questdbQuery(`select count() n from "${w.questdbTable}"`);
    return Number(p?.n) === expected.length && q?.['n'] === expected.length ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });

  // Grafana's two datasources: the sink's schema on Postgres's search_path, this test's table in QuestDB.
  const postgres = new pg.Client({ connectionString: stackEnv().POSTGRES_URL, options: `-c search_path="${w.schema}"` });
  const questdb = new pg.Client({ connectionString: stackEnv().QUESTDB_PG_URL });
  await postgres.connect();
  await questdb.connect();
  cleanup.unshift(() => postgres.end(), () => questdb.end());
  const run = async (t: ReturnType<typeof dashboardTargets>[number], stock: string) => {
    const sql = expandSqlMacros(interpolateVariables(t.query, { stock }), range, 86_400_000);
    if (t.datasourceUid === 'postgres') return { sql, rows: (await postgres.query(sql)).rows as Array<Record<string, unknown>> };
    assert.equal(t.datasourceUid, 'questdb', `${t.panel}: a datasource with no test`);
    const own = sql.replace(/\bdaily_bars\b/g, `"${w.questdbTable}"`);
    return { sql, rows: (await questdb.query(own)).rows as Array<Record<string, unknown>> };
  };

  const targets = dashboardTargets(dashboard);
  assert.ok(targets.length >= 10);
  for (const t of targets) {
    const { sql, rows } = await run(t, '005930').catch((err: Error) => assert.fail(`${t.panel}: ${err.message}`));
    assert.ok(rows.length > 0, `${t.panel} returned no rows:\n${sql}`);
  }
  const variable = targets.find((t) => t.panel === 'variable $stock');
  const options = (await run(variable as never, '')).rows;
  assert.equal(options.length, 60);
  assert.deepEqual(options.find((o) => o['__value'] === '005930'), { __text: '삼성전자 (005930)', __value: '005930' });

  // A value that tries to break out of its quotes stays inside them, in every query, on both databases.
  const evil = "005930'; drop table stocks; --";
  for (const t of targets.filter((x) => x.query.includes('$stock'))) {
    const { sql, rows } = await run(t, evil).catch((err: Error) => assert.fail(`${t.panel} with an injected value: ${err.message}`));
    assert.ok(sql.includes("'005930''; drop table stocks; --'"), sql);
    assert.equal(rows.length, 0, `${t.panel}: no stock has that code`);
  }
  assert.equal((await pgQuery(w.schema, 'select count(*) n from stocks'))[0]?.['n'], '60', 'stocks is still there');

  // Weekly (Monday-based KST weeks) and monthly (KST months) bars of 005930, computed independently.
  const mine = expected.filter((b) => b.stock.listing.symbol === '005930' && b.volume > 0);
  const group = (keyOf: (iso: string) => string) => {
    const out = new Map<string, { open: number; high: number; low: number; close: number; volume: number }>();
    for (const b of mine) {
      const k = keyOf(isoDay(b.day));
      const g = out.get(k);
      if (!g) out.set(k, { open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume });
      else Object.assign(g, { high: Math.max(g.high, b.high), low: Math.min(g.low, b.low), close: b.close, volume: g.volume + b.volume });
    }
    return out;
  };
  const monday = (iso: string) => {
    const d = new Date(`${iso}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
    return d.toISOString().slice(0, 10);
  };
  const kstMidnight = (iso: string) => (Date.parse(`${iso}T00:00:00Z`) - 9 * 3600_000) * 1000;
  for (const [title, keyOf] of [['weekly', monday], ['monthly', (iso: string) => `${iso.slice(0, 7)}-01`]] as const) {
    const t = targets.find((x) => x.panel.includes(title)) as ReturnType<typeof dashboardTargets>[number];
    const rows = (await run(t, '005930')).rows;
    const want = group(keyOf);
    assert.equal(rows.length, want.size, `${title}: one bar per period with trading`);
    for (const r of rows) {
      const time = r['time'] instanceof Date ? (r['time'] as Date).getTime() * 1000 : isoToMicros(String(r['time']));
      const key = [...want.keys()].find((k) => kstMidnight(k) === time);
      assert.ok(key, `${title} bar at ${String(r['time'])} starts a KST ${title === 'weekly' ? 'Monday' : 'month'}`);
      assert.deepEqual([r['open'], r['high'], r['low'], r['close'], r['volume']].map(Number), Object.values(want.get(key) as object), `${title} ${key}`);
    }
  }
});
