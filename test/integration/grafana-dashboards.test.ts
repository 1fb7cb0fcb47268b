import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { dashboardTargets, expandPromQl, expandSqlMacros, interpolateVariables, type TimeRange } from '../helpers/grafana.js';
import { simulate, sliceEnv } from '../helpers/pipeline.js';
import { dropSchema, pgQuery } from '../helpers/postgres.js';
import { isoToMicros, questdbQuery } from '../helpers/questdb.js';
import { CANDLE_INTERVALS } from '../../lib/topics.js';
import { generateListings } from '../../producers/simulator/listings.js';
import { startInOrder, startService } from '../helpers/service-process.js';
import { REPO_ROOT, stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { krxWorld, testScope } from './krx/helpers.js';

const { running, cleanup } = testScope();

interface CustomVariable { name: string; type: string; options?: Array<{ value: string }> }

const dashboards = readdirSync(join(REPO_ROOT, 'grafana', 'dashboards'))
  // The daily KRX dashboard (Postgres + daily data, no 1 s refresh) has its own test: krx/dashboard.test.ts.
  .filter((f) => f.endsWith('.json') && f !== 'krx-market.json')
  .map((f) => ({ file: f, json: JSON.parse(readFileSync(join(REPO_ROOT, 'grafana', 'dashboards', f), 'utf8')) as { refresh?: string; templating?: { list?: CustomVariable[] } } }));

/** The settings to run each query with: the first option of every custom variable not in `fixed`, then each other option in turn. */
function variableSettings(json: { templating?: { list?: CustomVariable[] } }, fixed: Record<string, string>): Array<Record<string, string>> {
  const customs = (json.templating?.list ?? []).filter((v) => v.type === 'custom' && (v.options?.length ?? 0) > 0 && !(v.name in fixed));
  const base = Object.fromEntries(customs.map((v) => [v.name, (v.options?.[0] as { value: string }).value]));
  return [base, ...customs.flatMap((v) => (v.options ?? []).slice(1).map((o) => ({ ...base, [v.name]: o.value })))];
}

test('every dashboard refreshes every second and every panel query runs on the real QuestDB and Prometheus, with data', async () => {
  assert.ok(dashboards.length > 0);
  // Live data in the tables the dashboards read (their real names: no table prefix here).
  const { common: base, ns } = sliceEnv('grafana');
  const env = { ...base, QUESTDB_TABLE_PREFIX: '', ROLLUPS_APP_ID: `${ns.id}-rollups`, INDICATORS_APP_ID: `${ns.id}-indicators` };
  const sinkTopics = ['market.ticks.v1', 'market.orderbook.v1', 'market.orderbook-features.v1', ...CANDLE_INTERVALS.flatMap((iv) => [`market.candles.${iv}.v1`, `market.indicators.${iv}.v1`])];
  await startInOrder([
    ['stream-processors/candles/main.js', env, /candle processor running/],
    ['stream-processors/rollups/main.js', env, /candle roll-ups running/],
    ['stream-processors/indicators/main.js', env, /indicators running/],
    ['stream-processors/orderbook-features/main.js', env, /order-book features running/],
    ['sinks/questdb/main.js', { ...env, SINK_TOPICS: sinkTopics.join(',') }, /QuestDB sink running/],
  ], running);
  // Forty minutes of history up to a minute ago, so the indicators of 1 s and 1 m bars are past
  // their warm-up (MACD's signal needs 34 bars) when the live run starts.
  const historyStart = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 41 * 60_000);
  await simulate(env, { symbols: 5, ticksPerSecond: 10, seconds: 40 * 60, start: historyStart.toISOString(), seed: 5 });
  const sim = startService('producers/simulator/main.js', { ...env, SIM_SYMBOLS: '20', SIM_TICKS_PER_SECOND: '200', SIM_DURATION_SECONDS: '8', SIM_ORDERBOOKS: 'true', SIM_SEED: '42' });
  running.push(sim);
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
  // The stock dashboard's 1 m bars: the history's warm indicators and the live run's in-progress bar.
  await waitFor('1 m indicators of the history and the live minute', async () => {
    const [r] = await questdbQuery(`select count() n, sum(case when macd_signal is not null then 1 else 0 end) warm, max(ts) last from indicators_1m where symbol = '005930' and ts > dateadd('m', -15, now())`);
    return (r?.['warm'] as number) > 0 && isoToMicros(String(r?.['last'])) > Date.now() * 1000 - 120_000_000 ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 1_000 });

  // The stock pickers read Postgres `stocks`, as Grafana's postgres datasource sees it: the fake KRX's
  // listings (the simulator's market, same seed) through the KRX poller and the Postgres sink.
  const krx = await krxWorld('grafstocks', { seed: 42 });
  cleanup.push(() => krx.fake.close(), () => dropSchema(krx.schema));
  running.push(krx.postgresSink());
  const poller = krx.poller();
  running.push(poller);
  assert.equal(await poller.exited, 0, poller.output().slice(-2000));
  await waitFor('the listings in stocks', async () => {
    const [r] = await pgQuery<{ n: string }>(krx.schema, 'select count(*) n from stocks');
    return Number(r?.n) === krx.fake.market.stocks.length ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });
  const postgres = new pg.Client({ connectionString: stackEnv().POSTGRES_URL, options: `-c search_path="${krx.schema}"` });
  await postgres.connect();
  cleanup.unshift(() => postgres.end());
  // The live run's symbols: the simulator's first 20 listings at its seed, 42.
  const liveSymbols = generateListings(20, 42).map((l) => l.symbol);
  const stockPicker = dashboardTargets(JSON.parse(readFileSync(join(REPO_ROOT, 'grafana', 'dashboards', 'krx-market.json'), 'utf8')) as never).find((t) => t.panel === 'variable $stock')?.query;
  assert.ok(stockPicker);

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
          // The fixed values, then every option of every other custom variable (e.g. all or regular hours), one at a time.
          const fixed = { symbol: '005930', interval: '1s' };
          for (const vars of variableSettings(json, fixed)) {
            const sql = expandSqlMacros(interpolateVariables(t.query, { ...fixed, ...vars }), range, 1000);
            const res = await client.query(sql).catch((err: Error) => assert.fail(`${where}: ${err.message}\n${sql}`));
            assert.ok(res.rows.length > 0, `${where} returned no rows:\n${sql}`);
            if (file === 'stock.json' && !t.panel.startsWith('variable')) await assertStockPanel(client, t.query, res.rows, range, where);
          }
          if (t.query.includes('$symbol')) await assertSymbolStaysQuoted(client, t.query, range, where);
        } else if (t.datasourceUid === 'postgres') {
          // Only the stock picker reads Postgres here: the same query as the KRX dashboard's (one fact).
          assert.equal(t.query, stockPicker, `${where}: the stock picker of every dashboard`);
          const options = (await postgres.query(t.query).catch((err: Error) => assert.fail(`${where}: ${err.message}`))).rows as Array<{ __text: string; __value: string }>;
          const values = new Set(options.map((o) => o.__value));
          assert.deepEqual(liveSymbols.filter((sym) => !values.has(sym)), [], `${where}: every stock the live panels show can be picked`);
          assert.match(options.find((o) => o.__value === '005930')?.__text ?? '', /^\S.* \(005930\)$/, `${where}: "name (code)"`);
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

/**
 * A picked value that tries to break out of its quotes stays a string: every `$symbol` of the query
 * sits inside quotes (Grafana doubles a value's `'`), and the query runs as one statement, finding no stock.
 */
async function assertSymbolStaysQuoted(client: pg.Client, query: string, range: TimeRange, where: string): Promise<void> {
  assert.equal(query.split('$symbol').length - 1, query.split("'$symbol'").length - 1, `${where}: every $symbol is quoted`);
  const sql = expandSqlMacros(interpolateVariables(query, { symbol: "005930'; drop table candles_1s; --", interval: '1s', hours: 'all' }), range, 1000);
  await client.query(sql).catch((err: Error) => assert.fail(`${where}: an injected symbol broke the query: ${err.message}\n${sql}`));
  const [r] = await questdbQuery("select count() n from tables() where table_name = 'candles_1s'");
  assert.equal(r?.['n'], 1, `${where}: candles_1s is still there`);
}

/** Columns that cannot have a value after 40 bars of history: their warm-up is longer. */
const LONG_WARM_UP = new Set(['sma60', 'sma120', 'sma200']);

/**
 * The stock dashboard, beyond "runs with data": one row per bar (the tables' DEDUP keys leave one
 * version of a bar), every plotted column has values at 1 s and 1 m, every interval of the variable
 * runs, and a value that tries to break out of its quotes stays inside them (the table name is a
 * quoted literal, so even `$interval` cannot name anything but a table).
 */
async function assertStockPanel(client: pg.Client, query: string, rows1s: Array<Record<string, unknown>>, range: TimeRange, where: string): Promise<void> {
  const run = async (vars: Record<string, string>) => {
    const sql = expandSqlMacros(interpolateVariables(query, vars), range, 1000);
    return { sql, rows: (await client.query(sql).catch((err: Error) => assert.fail(`${where} ${JSON.stringify(vars)}: ${err.message}\n${sql}`))).rows as Array<Record<string, unknown>> };
  };
  const onePerBar = (rows: Array<Record<string, unknown>>, iv: string) =>
    assert.equal(new Set(rows.map((r) => String(r['time']))).size, rows.length, `${where} at ${iv}: one row per bar`);
  const everyColumnHasValues = (rows: Array<Record<string, unknown>>, iv: string, skip: ReadonlySet<string>) => {
    for (const col of Object.keys(rows[0] ?? {}).filter((c) => !skip.has(c))) {
      assert.ok(rows.some((r) => r[col] !== null), `${where} at ${iv}: ${col} has no value`);
    }
  };
  onePerBar(rows1s, '1s');
  everyColumnHasValues(rows1s, '1s', new Set());
  const rows1m = (await run({ symbol: '005930', interval: '1m' })).rows;
  assert.ok(rows1m.length > 0, `${where} at 1m: no rows`);
  onePerBar(rows1m, '1m');
  everyColumnHasValues(rows1m, '1m', LONG_WARM_UP);
  for (const iv of CANDLE_INTERVALS) onePerBar((await run({ symbol: '005930', interval: iv })).rows, iv);

  assert.equal((await run({ symbol: "005930'; drop table candles_1s; --", interval: '1s' })).rows.length, 0, `${where}: no stock has that code`);
  const evil = "1s' where 1=1; --";
  const sql = expandSqlMacros(interpolateVariables(query, { symbol: '005930', interval: evil }), range, 1000);
  await assert.rejects(client.query(sql), /table does not exist/, `${where}: an injected interval names a table that does not exist`);
  assert.ok(sql.includes("'candles_1s'' where 1=1; --'") || sql.includes("'indicators_1s'' where 1=1; --'"), sql);
}
