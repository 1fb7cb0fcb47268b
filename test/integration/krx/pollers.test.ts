import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { DailyBar } from '../../../schemas/generated/types.js';
import { readTopic } from '../../helpers/kafka.js';
import { metricValue } from '../../helpers/metrics.js';
import { dropSchema, pgQuery } from '../../helpers/postgres.js';
import { stackEnv } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';
import { isoToEpochDay } from '../../../lib/time.js';
import { isoDay, krxWorld, testScope } from './helpers.js';

const { running, cleanup } = testScope();

type StockRow = { code: string; isin: string; name: string; english_name: string; market: string; listed_shares: string; listing_date: string; par_value: string | null; delisted: boolean; delisted_date: string | null; market_cap: string | null };
const stocksSql = "select code, isin, name, english_name, market, listed_shares, to_char(listing_date, 'YYYY-MM-DD') listing_date, par_value, delisted, to_char(delisted_date, 'YYYY-MM-DD') delisted_date, market_cap from stocks order by code";

test('listings → ref.stocks.v1 → Postgres equal the fake listings; a stock that disappears is marked delisted with the date, never deleted', async () => {
  const w = await krxWorld('krxlistings');
  cleanup.push(() => w.fake.close(), () => dropSchema(w.schema));
  const sink = w.postgresSink();
  running.push(sink);
  await sink.waitForLog(/Postgres sink running/);

  const first = w.poller({ KRX_DAILY_DATE: '2026-11-27' });
  running.push(first);
  assert.equal(await first.exited, 0, first.output().slice(-3000));
  const listed = w.fake.market.listingsOn(isoToEpochDay('2026-11-30'));
  await waitFor('every listing in Postgres', async () => ((await pgQuery(w.schema, 'select count(*) n from stocks'))[0]?.['n'] === String(listed.length) ? true : undefined));
  const rows = await pgQuery<StockRow>(w.schema, stocksSql);
  const fromFake = listed.map((s) => ({ code: s.listing.symbol, isin: s.isin, name: s.nameKo, english_name: s.englishName, market: s.listing.market, listed_shares: String(s.listedShares), listing_date: isoDay(s.listingDay), par_value: s.parValue === null ? null : String(s.parValue), delisted: false, delisted_date: null }))
    .sort((a, b) => a.code.localeCompare(b.code));
  assert.deepEqual(rows.map(({ market_cap: _, ...r }) => r), fromFake);
  // The day's bars went out too and put each stock's market cap on it.
  await waitFor('market caps from the bars of 2026-11-27', async () => ((await pgQuery(w.schema, 'select count(*) n from stocks where market_cap is not null'))[0]?.['n'] === String(listed.length) ? true : undefined));
  assert.equal((await pgQuery(w.schema, 'select count(*) n from kospi_stocks'))[0]?.['n'], String(listed.filter((s) => s.listing.market === 'KOSPI').length));
  assert.equal((await pgQuery(w.schema, 'select count(*) n from kosdaq_stocks'))[0]?.['n'], String(listed.filter((s) => s.listing.market === 'KOSDAQ').length));

  // A day later one stock is gone; a restarted poller remembers the rest from the topic.
  const gone = listed[5]?.listing.symbol as string;
  w.fake.delist(gone, '2026-12-01');
  w.fake.setToday('2026-12-01');
  const second = w.poller({ KRX_DAILY_DATE: '2026-11-27' });
  running.push(second);
  assert.equal(await second.exited, 0, second.output().slice(-3000));
  assert.match(second.output(), /"known":60/);
  assert.match(second.output(), /"listed":59,"added":0,"changed":0,"delisted":1/);
  await waitFor('the delisting in Postgres', async () => ((await pgQuery(w.schema, 'select count(*) n from stocks where delisted'))[0]?.['n'] === '1' ? true : undefined));
  const [row] = await pgQuery<StockRow>(w.schema, `${stocksSql.replace(' order by code', '')} where code = $1`, [gone]);
  assert.equal(row?.delisted, true);
  assert.equal(row?.delisted_date, new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 10), 'delisted on the KST date of the poll that missed it');
  assert.equal((await pgQuery(w.schema, 'select count(*) n from stocks'))[0]?.['n'], '60', 'never deleted');
  assert.equal((await pgQuery(w.schema, 'select count(*) n from kospi_stocks where code = $1', [gone]))[0]?.['n'], '0');
});

test('LOGOUT → one fresh login → the data; LOGOUT again right after a login → a clear error, no loop; CD011 → skipDup', async () => {
  const w = await krxWorld('krxlogout', { universe: 20 });
  cleanup.push(() => w.fake.close());
  // Another session holds the member: the poller's login meets CD011 and takes it over.
  const other = await fetch(`${w.fake.url}/contents/MDC/COMS/client/MDCCOMS001.cmd`);
  const cookie = /JSESSIONID=[^;]+/.exec(other.headers.get('set-cookie') ?? '')?.[0] as string;
  await fetch(`${w.fake.url}/contents/MDC/COMS/client/MDCCOMS001D1.cmd`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'mbrId=fake-member&pw=fake-password' });

  const poller = w.poller({ KRX_RUN_ONCE: 'false', KRX_DAILY_DATE: '2026-11-27', KRX_LISTINGS_POLL_MINUTES: '0.05' });
  running.push(poller);
  await poller.waitForLog(/KRX poller running/);
  assert.equal(w.fake.state.duplicateLogins, 1, 'CD011 once');
  assert.equal(w.fake.state.logins, 2, 'the other session, then ours with skipDup=Y');
  const headers = w.fake.state.lastHeaders;
  assert.match(String(headers['user-agent']), /^Mozilla\/5\.0/);
  assert.equal(headers['referer'], 'https://data.krx.co.kr/contents/MDC/MDI/outerLoader/index.cmd');
  assert.equal(headers['x-requested-with'], 'XMLHttpRequest');

  // The session expires: the next poll is answered LOGOUT, logs in once and carries on.
  w.fake.expireSessions();
  const logins = w.fake.state.logins;
  const bars = await readTopic(`${w.ns.topicNamespace}krx.daily-bars.v1`, { count: 20 });
  assert.equal(bars.length, 20);
  await waitFor('a listings poll after the expiry', async () => ((await metricValue(poller, 'krx_polls_total', { kind: 'listings', outcome: 'ok' })) >= 2 ? true : undefined), { timeoutMs: 90_000, intervalMs: 500 });
  assert.equal(w.fake.state.logins, logins + 1, 'one fresh login');
  assert.ok(w.fake.state.logouts >= 1);
  assert.equal(poller.child.exitCode, null);
  await poller.stop();

  // A session refused right after a fresh login: one re-login, then a clear error and exit 1.
  w.fake.setAlwaysLogout(true);
  const refused = w.poller();
  running.push(refused);
  assert.equal(await refused.exited, 1);
  assert.match(refused.output(), /SOURCE_AUTH_FAILED/);
  assert.match(refused.output(), /answered LOGOUT again right after a fresh login/);
  assert.doesNotMatch(refused.output(), /fake-password/, 'the password never reaches a log line');
  assert.equal(w.fake.state.logouts - 1 >= 1, true);
});

test('bad bodies (an HTML page, truncated JSON, a changed field set) are counted and dead-lettered whole with the request; the backfill keeps going and fetches them again', async () => {
  const w = await krxWorld('krxbadbody', { universe: 30 });
  cleanup.push(() => w.fake.close());
  w.fake.serveBadBodies('html', 1);
  const backfill = w.backfill({ BACKFILL_FROM: '2025-03-03', BACKFILL_TO: '2025-03-14', BACKFILL_BAD_DAY_RETRIES: '1', KRX_MIN_INTERVAL_MS: '300' });
  running.push(backfill);
  // While it runs, two more kinds of bad body, each once the one before was served.
  const served = (n: number) => waitFor(`bad body ${n} served`, () => (w.fake.state.badBodiesServed >= n ? true : undefined), { intervalMs: 10, timeoutMs: 30_000 });
  await served(1);
  w.fake.serveBadBodies('truncated', 1);
  await served(2);
  w.fake.serveBadBodies('fields', 1);
  assert.equal(await backfill.exited, 0, backfill.output().slice(-3000));
  assert.equal(w.fake.state.badBodiesServed, 3);

  const dead = await readTopic(`${w.ns.topicNamespace}dlq.krx-poller.v1`, { count: 3 });
  const header = (m: (typeof dead)[number], k: string) => m.headers?.[k]?.toString();
  const bodies = dead.map((m) => m.value?.toString() ?? '');
  assert.ok(bodies.some((b) => b.startsWith('<!DOCTYPE html>')), 'the HTML page, whole');
  assert.ok(bodies.some((b) => b.startsWith('{"OutBlock_1":[') && !b.endsWith('}')), 'the truncated JSON, whole');
  assert.ok(bodies.some((b) => b.includes('"TDD_CLSPRC_NEW"')), 'the changed field set, whole');
  for (const m of dead) {
    assert.equal(header(m, 'kmarket.dlq.error.code'), 'SOURCE_BAD_RESPONSE');
    assert.match(header(m, 'kmarket.dlq.context.request') ?? '', /^POST \/comm\/bldAttendant\/getJsonData\.cmd bld=dbms%2FMDC%2FSTAT%2Fstandard%2FMDCSTAT01501&.*trdDd=202503\d\d/);
  }
  // Every trading day still arrived: the bad days were fetched again.
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  let expected = 0;
  let tradingDays = 0;
  for (let d = isoToEpochDay('2025-03-03'); d <= isoToEpochDay('2025-03-14'); d++) {
    expected += w.fake.market.barsOn(d)?.length ?? 0;
    if (w.fake.market.isTradingDay(d)) tradingDays++;
  }
  const messages = await readTopic(`${w.ns.topicNamespace}krx.daily-bars.v1`, { count: expected });
  const days = new Set(await Promise.all(messages.map(async (m) => ((await registry.decode(m.value as Buffer)) as DailyBar).date)));
  assert.equal(days.size, tradingDays, 'every trading day');
  assert.match(backfill.output(), /fetching days with bad bodies again/);
});

test('the Open API: AUTH_KEY, 401 for a service not approved on the key is a clear error; the daily call budget is kept', async () => {
  const w = await krxWorld('krxopenapi', { universe: 20 });
  cleanup.push(() => w.fake.close());
  const env = { KRX_SOURCE: 'openapi', KRX_ID: '', KRX_PW: '' };
  // Approved for the daily prices only: the listings service is refused.
  const partial = w.poller({ ...env, KRX_AUTH_KEY: 'fake-key-daily-only' });
  running.push(partial);
  assert.equal(await partial.exited, 1);
  assert.match(partial.output(), /KRX Open API refused stk_isu_base_info \(401 Unauthorized API Call\)/);
  assert.doesNotMatch(partial.output(), /fake-key-daily-only/, 'the key never reaches a log line');

  const before = w.fake.state.openApiRequests;
  const backfill = w.backfill({ ...env, BACKFILL_FROM: '2025-03-03', BACKFILL_TO: '2025-03-07' });
  running.push(backfill);
  assert.equal(await backfill.exited, 0, backfill.output().slice(-3000));
  assert.equal(w.fake.state.openApiRequests, before + 15, 'three markets a day');
  assert.match(backfill.output(), /"bars":100,/, 'five days of twenty stocks');
  // Five calls a day allowed: the second day's second market is refused before it is sent.
  const budget = w.backfill({ ...env, BACKFILL_FROM: '2025-03-10', BACKFILL_TO: '2025-03-14', KRX_OPENAPI_DAILY_BUDGET: '5', BACKFILL_CHECKPOINT_FILE: `${w.env['BACKFILL_CHECKPOINT_FILE']}.2` });
  running.push(budget);
  assert.equal(await budget.exited, 1);
  assert.match(budget.output(), /the daily budget of 5 calls is spent/);
  assert.equal(w.fake.state.openApiRequests, before + 15 + 5);
});
