import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { dashboardTargets, expandPromQl, expandSqlMacros, interpolateVariables } from '../helpers/grafana.js';
import { sliceEnv, stopAll } from '../helpers/pipeline.js';
import { questdbQuery } from '../helpers/questdb.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { REPO_ROOT, stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

interface CustomVariable { name: string; type: string; options?: Array<{ value: string }> }

const dashboards = readdirSync(join(REPO_ROOT, 'grafana', 'dashboards'))
  // The daily KRX dashboard (Postgres + daily data, no 1 s refresh) has its own test: krx/dashboard.test.ts.
  .filter((f) => f.endsWith('.json') && f !== 'krx-market.json')
  .map((f) => ({ file: f, json: JSON.parse(readFileSync(join(REPO_ROOT, 'grafana', 'dashboards', f), 'utf8')) as { refresh?: string; templating?: { list?: CustomVariable[] } } }));

/** The settings to run each query with: the first option of every custom variable, then each other option in turn. */
function variableSettings(json: { templating?: { list?: CustomVariable[] } }): Array<Record<string, string>> {
  const customs = (json.templating?.list ?? []).filter((v) => v.type === 'custom' && (v.options?.length ?? 0) > 0);
  const base = Object.fromEntries(customs.map((v) => [v.name, (v.options?.[0] as { value: string }).value]));
  return [base, ...customs.flatMap((v) => (v.options ?? []).slice(1).map((o) => ({ ...base, [v.name]: o.value })))];
}

test('every dashboard refreshes every second and every panel query runs on the real QuestDB and Prometheus, with data', async () => {
  assert.ok(dashboards.length > 0);
  // Live data in the tables the dashboards read (their real names: no table prefix here).
  const { common } = sliceEnv('grafana');
  const env = { ...common, QUESTDB_TABLE_PREFIX: '' };
  const processor = startService('stream-processors/candles/main.js', env);
  const bookFeatures = startService('stream-processors/orderbook-features/main.js', env);
  const sink = startService('sinks/questdb/main.js', { ...env, SINK_TOPICS: 'market.ticks.v1,market.candles.1s.v1,market.orderbook.v1,market.orderbook-features.v1' });
  const sim = startService('producers/simulator/main.js', { ...env, SIM_SYMBOLS: '20', SIM_TICKS_PER_SECOND: '200', SIM_DURATION_SECONDS: '8', SIM_ORDERBOOKS: 'true' });
  running.push(processor, bookFeatures, sink, sim);
  await waitFor('final candles of the live run', async () => {
    const [r] = await questdbQuery(`select count() n from candles_1s where is_final and ts > dateadd('s', -30, now())`);
    return (r?.['n'] as number) > 20 ? true : undefined;
  }, { timeoutMs: 60_000 });
  await waitFor('order books of the live run', async () => {
    const [r] = await questdbQuery(`select count() n from orderbook where symbol = '005930' and ts > dateadd('s', -30, now())`);
    return (r?.['n'] as number) > 0 ? true : undefined;
  }, { timeoutMs: 60_000 });
  await waitFor('order-book features of the live run', async () => {
    const [r] = await questdbQuery(`select count() n from orderbook_features where symbol = '005930' and ts > dateadd('s', -30, now())`).catch(() => [undefined]);
    return (r?.['n'] as number) > 0 ? true : undefined;
  }, { timeoutMs: 60_000 });

  const client = new pg.Client({ connectionString: stackEnv().QUESTDB_PG_URL });
  await client.connect();
  try {
    for (const { file, json } of dashboards) {
      assert.equal(json.refresh, '1s', `${file} refreshes every second`);
      const range = { from: new Date(Date.now() - 15 * 60_000), to: new Date() };
      const targets = dashboardTargets(json as never);
      assert.ok(targets.length > 0);
      for (const t of targets) {
        const where = `${file} / ${t.panel} / ${t.refId}`;
        if (t.datasourceUid === 'questdb') {
          // Every option of every custom variable (e.g. all or regular hours), one variable at a time.
          for (const vars of variableSettings(json)) {
            const sql = expandSqlMacros(interpolateVariables(t.query, { symbol: '005930', ...vars }), range, 1000);
            const res = await client.query(sql).catch((err: Error) => assert.fail(`${where}: ${err.message}\n${sql}`));
            assert.ok(res.rows.length > 0, `${where} returned no rows:\n${sql}`);
          }
        } else if (t.datasourceUid === 'prometheus') {
          const expr = expandPromQl(t.query, 1000);
          const url = `${stackEnv().PROMETHEUS_URL}/api/v1/query?query=${encodeURIComponent(expr)}`;
          const body = (await fetch(url).then((r) => r.json())) as { status: string; error?: string };
          assert.equal(body.status, 'success', `${where}: ${body.error ?? ''}\n${expr}`);
        } else {
          assert.fail(`${where}: datasource ${t.datasourceUid} has no test`);
        }
      }
    }
  } finally {
    await client.end();
  }
});
