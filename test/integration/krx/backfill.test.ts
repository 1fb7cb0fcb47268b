import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { BackfillCheckpoint } from '../../../producers/krx/checkpoint.js';
import { dropSchema, pgQuery } from '../../helpers/postgres.js';
import { questdbQuery } from '../../helpers/questdb.js';
import { waitFor } from '../../helpers/wait.js';
import { assertSummaryOf, expectedBars, isoDay, krxWorld, testScope } from './helpers.js';

const { running, cleanup } = testScope();

const FROM = '2025-01-01';
const TO = '2025-06-30';

test('a backfill killed with SIGKILL half way resumes and ends with exactly one row per stock and day in Postgres and QuestDB, committed to QuestDB about once a second; the daily summary equals one computed by hand', async () => {
  const w = await krxWorld('krxbackfill');
  cleanup.push(() => w.fake.close(), () => dropSchema(w.schema));
  const expected = expectedBars(w.fake, FROM, TO);
  const tradingDays = new Set(expected.map((b) => b.day)).size;
  assert.ok(expected.length > 5_000 && tradingDays > 100, `a real half year: ${expected.length} bars on ${tradingDays} days`);

  const pgSink = w.postgresSink();
  const qdbSink = w.questdbSink();
  running.push(pgSink, qdbSink);
  await pgSink.waitForLog(/Postgres sink running/);
  await qdbSink.waitForLog(/QuestDB sink running/);

  // Polite enough to be caught in the middle: ~130 weekdays at one request per 100 ms.
  const env = { BACKFILL_FROM: FROM, BACKFILL_TO: TO, KRX_MIN_INTERVAL_MS: '100' };
  const startedAt = Date.now();
  const first = w.backfill(env);
  running.push(first);
  const checkpoint = () => JSON.parse(readFileSync(w.env['BACKFILL_CHECKPOINT_FILE'] as string, 'utf8')) as BackfillCheckpoint;
  const killedAt = await waitFor('the checkpoint half way', () => {
    try {
      const c = checkpoint();
      return c.doneThrough >= c.from + 60 ? c.doneThrough : undefined;
    } catch {
      return undefined;
    }
  }, { timeoutMs: 120_000, intervalMs: 50 });
  first.child.kill('SIGKILL');
  await first.exited;
  assert.ok(killedAt < checkpoint().to - 30, 'killed well before the end');

  const second = w.backfill(env);
  running.push(second);
  const resumed = (await second.waitForLog(/"resumedAfter":"[0-9-]+"/, 60_000)).slice(-11, -1);
  assert.ok(resumed >= isoDay(killedAt), `resumed after ${resumed}, where the first run got to (at least ${isoDay(killedAt)})`);
  const code = await second.exited;
  assert.equal(code, 0, second.output().slice(-3000));
  const planned = /"backfill planned".*?"days":(\d+)/.exec(second.output()) ?? /"days":(\d+).*"backfill planned"/.exec(second.output());
  assert.ok(planned && Number(planned[1]) < 130, `the second run fetched only the rest: ${planned?.[0]}`);
  const final = checkpoint();
  const holidays = final.holidays.length;
  assert.ok(holidays >= 5, `holidays recognised from the data: ${holidays}`);

  await waitFor('every bar in Postgres', async () => {
    const [r] = await pgQuery<{ n: string }>(w.schema, 'select count(*) n from daily_bars');
    return Number(r?.n) === expected.length ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
  await waitFor('every bar in QuestDB', async () => {
    const [r] = await questdbQuery(`select count() n from "${w.questdbTable}"`);
    return r?.['n'] === expected.length ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
  // History is committed about once a second, not every 50 ms like live rows: small commits cost
  // QuestDB several times the CPU per row (the table's minFlushIntervalMs). A few more for the kill.
  const seconds = (Date.now() - startedAt) / 1000;
  const [wal] = await questdbQuery(`select count() n from wal_transactions('${w.questdbTable}')`);
  assert.ok(Number(wal?.['n']) <= Math.ceil(seconds) + 5, `${String(wal?.['n'])} QuestDB commits of daily bars in ${seconds.toFixed(1)} s`);

  // Exactly one row per stock and day, with the fake's numbers.
  const rows = await pgQuery<{ code: string; date: string; open: string; high: string; low: string; close: string; volume: string; traded_value: string; market_cap: string }>(
    w.schema, "select code, to_char(date, 'YYYY-MM-DD') date, open, high, low, close, volume, traded_value, market_cap from daily_bars");
  const byKey = new Map(rows.map((r) => [`${r.code}@${r.date}`, r]));
  assert.equal(byKey.size, expected.length);
  for (const b of expected) {
    const r = byKey.get(`${b.stock.listing.symbol}@${isoDay(b.day)}`);
    assert.ok(r, `row of ${b.stock.listing.symbol} on ${isoDay(b.day)}`);
    assert.deepEqual([r.open, r.high, r.low, r.close, r.volume, r.traded_value, r.market_cap].map(Number), [b.open, b.high, b.low, b.close, b.volume, b.tradedValue, b.marketCap]);
  }
  const [q] = await questdbQuery(`select count() n, count_distinct(concat(code, '@', ts)) k, sum(close) c, sum(volume) v from "${w.questdbTable}"`);
  assert.deepEqual(q, { n: expected.length, k: expected.length, c: expected.reduce((s, b) => s + b.close, 0), v: expected.reduce((s, b) => s + b.volume, 0) });

  // The summary, by hand from the fake's bars, once the sink has recomputed every date.
  await assertSummaryOf(w.schema, expected.map((b) => ({ date: isoDay(b.day), market: b.stock.listing.market, volume: b.volume, tradedValue: b.tradedValue, changeRate: b.changeRate, change: b.change })));

  // Run again over the same range: nothing to fetch, and nothing changes.
  const third = w.backfill(env);
  running.push(third);
  assert.equal(await third.exited, 0);
  assert.match(third.output(), /backfill already complete/);
});
