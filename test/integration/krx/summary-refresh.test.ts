import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createLogger } from '../../../lib/logger.js';
import { epochDayToIso, isoToEpochDay } from '../../../lib/time.js';
import { topicCatalogue } from '../../../lib/topics.js';
import { Random } from '../../../producers/simulator/random.js';
import type { DailyBar, StockMarket } from '../../../schemas/generated/types.js';
import { migrate } from '../../../sinks/postgres/migrations.js';
import { inTransaction as inPoolTransaction } from '../../../sinks/postgres/transaction.js';
import { dailyBarsMapping, refreshMarketSummary } from '../../../sinks/postgres/tables.js';
import { dropSchema, freshSchema, pgQuery } from '../../helpers/postgres.js';
import { stackEnv } from '../../helpers/stack.js';
import { assertSummaryOf } from './helpers.js';

/**
 * daily_market_summary is recomputed after the bars commit, from the dates they left pending
 * (sinks/postgres/tables.ts). These tests drive the bars' upsert and the refresher directly on the
 * real Postgres, in the interleavings a sink instance, a second instance and a crash produce.
 */
const schema = freshSchema('summaryrefresh');
let pool: pg.Pool;
const mapping = dailyBarsMapping(topicCatalogue('', 6).krxDailyBars);
const MARKETS: StockMarket[] = ['KOSPI', 'KOSDAQ', 'KONEX'];

before(async () => {
  pool = new pg.Pool({ connectionString: stackEnv().POSTGRES_URL, max: 8, options: `-c search_path="${schema}"` });
  await migrate(pool, schema, createLogger('summary-refresh-test', { level: 'silent' }));
});
after(async () => {
  await pool.end();
  await dropSchema(schema);
});

function barOf(rnd: Random, code: string, date: number): DailyBar {
  const close = 1_000 + Math.floor(rnd.next() * 100_000);
  const change = Math.floor(rnd.next() * 2_001) - 1_000;
  const volume = rnd.next() < 0.1 ? 0 : Math.floor(rnd.next() * 1_000_000);
  return {
    code, date, market: MARKETS[Number.parseInt(code, 10) % 3] as StockMarket, name: `stock ${code}`,
    open: close, high: close, low: close, close, change, changeRate: Math.round((change / close) * 10_000) / 100,
    volume, tradedValue: volume * close, marketCap: close * 1_000_000, listedShares: 1_000_000, source: 'KRX_DATA', ingestTime: Date.now() * 1000,
  };
}

/** `fn` in a transaction of its own; `hold` keeps it open (uncommitted) until it resolves. */
const inTransaction = <T>(fn: (client: pg.PoolClient) => Promise<T>, hold?: Promise<void>): Promise<T> =>
  inPoolTransaction(pool, async (client) => {
    const out = await fn(client);
    await hold;
    return out;
  });

const summaryInput = (b: DailyBar) => ({ date: epochDayToIso(b.date), market: b.market, volume: b.volume, tradedValue: b.tradedValue, changeRate: b.changeRate, change: b.change });
const pendingDates = async () => (await pgQuery<{ d: string }>(schema, "select to_char(date, 'YYYY-MM-DD') d from daily_market_summary_pending order by 1")).map((r) => r.d);
const clear = () => pgQuery(schema, 'truncate daily_bars, daily_market_summary, daily_market_summary_pending');

test('a bars transaction still open when the refresher claims keeps its date pending; the next refresh counts its bars', async () => {
  await clear();
  const rnd = new Random(1);
  const day = isoToEpochDay('2026-03-03');
  const early = Array.from({ length: 30 }, (_, i) => barOf(rnd, String(100_000 + i), day));
  const late = Array.from({ length: 30 }, (_, i) => barOf(rnd, String(200_000 + i), day));
  await inTransaction((c) => mapping.upsert(c, early));

  let releaseLate!: () => void;
  const lateHeld = new Promise<void>((resolve) => (releaseLate = resolve));
  let lateWritten!: () => void;
  const lateIn = new Promise<void>((resolve) => (lateWritten = resolve));
  const lateTx = inTransaction(async (c) => {
    await mapping.upsert(c, late);
    lateWritten();
  }, lateHeld);
  await lateIn;

  try {
    // The refresher sees only the committed transaction's date and bars.
    assert.equal(await inTransaction(refreshMarketSummary), 1);
    const [mid] = await pgQuery<{ n: string }>(schema, 'select sum(stocks_traded) n from daily_market_summary');
    assert.equal(Number(mid?.n), early.filter((b) => b.volume > 0).length, 'the first refresh counted the committed bars only');
  } finally {
    releaseLate();
    await lateTx;
  }
  assert.deepEqual(await pendingDates(), ['2026-03-03'], 'the late transaction left its date for the next run');
  assert.equal(await inTransaction(refreshMarketSummary), 1);
  await assertSummaryOf(schema, [...early, ...late].map(summaryInput));
});

test('a refresh that rolls back (a crash mid-recompute) leaves every date pending', async () => {
  await clear();
  const rnd = new Random(2);
  const days = [isoToEpochDay('2026-04-01'), isoToEpochDay('2026-04-02')];
  const bars = days.flatMap((d) => Array.from({ length: 20 }, (_, i) => barOf(rnd, String(300_000 + i), d)));
  await inTransaction((c) => mapping.upsert(c, bars));
  await assert.rejects(inTransaction(async (c) => {
    assert.equal(await refreshMarketSummary(c), 2);
    throw new Error('killed before COMMIT');
  }), /killed before COMMIT/);
  assert.deepEqual(await pendingDates(), ['2026-04-01', '2026-04-02']);
  assert.equal((await pgQuery(schema, 'select * from daily_market_summary')).length, 0);
  assert.equal(await inTransaction(refreshMarketSummary), 2);
  await assertSummaryOf(schema, bars.map(summaryInput));
});

test('bars of the same dates from many concurrent transactions, with two refreshers running meanwhile: the summary ends equal to one computed by hand', async () => {
  await clear();
  const rnd = new Random(3);
  const days = ['2026-05-04', '2026-05-05', '2026-05-06'].map(isoToEpochDay);
  // 24 transactions, each some stocks of some of the dates; a bar in several of them is the same bar.
  const universe = days.flatMap((d) => Array.from({ length: 40 }, (_, i) => barOf(rnd, String(400_000 + i), d)));
  const written = new Set<DailyBar>();
  const batches = Array.from({ length: 24 }, () => {
    const skipped = new Set(days.filter(() => rnd.next() < 0.3));
    const batch = universe.filter((b) => !skipped.has(b.date) && rnd.next() < 0.5);
    for (const b of batch) written.add(b);
    return batch;
  });
  let writersLeft = batches.length;
  let refreshes = 0;
  const refresher = async () => {
    while (writersLeft > 0) {
      await inTransaction(refreshMarketSummary);
      refreshes++;
    }
  };
  const writer = async (lane: number) => {
    for (let i = lane; i < batches.length; i += 4) {
      const batch = batches[i] as DailyBar[];
      await inTransaction((c) => mapping.upsert(c, batch));
      writersLeft--;
    }
  };
  await Promise.all([refresher(), refresher(), writer(0), writer(1), writer(2), writer(3)]);
  assert.ok(refreshes >= 2, `the refreshers ran while the bars were written (${refreshes} runs)`);
  // What a sink does after its last commit: one more run.
  await inTransaction(refreshMarketSummary);
  await assertSummaryOf(schema, [...written].map(summaryInput));
});
