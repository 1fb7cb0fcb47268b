import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { expectedCandles, expectedWindowSessions } from '../helpers/candles.js';
import { testKafka } from '../helpers/kafka.js';
import { readTicks, simulate, sliceEnv, stopAll } from '../helpers/pipeline.js';
import { isoToMicros, questdbQuery } from '../helpers/questdb.js';
import { assertRollupsEqualTicks, expectedWindows, sendClosingTicks } from '../helpers/rollups.js';
import { rollupWindow } from '../../stream-processors/rollups/rollup.js';
import { startInOrder, type RunningService } from '../helpers/service-process.js';
import { daysAgoAt } from '../helpers/time.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

/** The candle processor, the roll-ups and a sink of `sinkTopics`. */
const startChain = (common: Record<string, string>, sinkTopics: string) => startInOrder([
  ['stream-processors/candles/main.js', common, /candle processor running/],
  ['stream-processors/rollups/main.js', common, /candle roll-ups running/],
  ['sinks/questdb/main.js', { ...common, SINK_TOPICS: sinkTopics }, /QuestDB sink running/],
], running);

test('ticks → 1 s candles → 1 m … 1 d roll-ups across midnight KST: one final per window, equal to the ticks; QuestDB tables too', async () => {
  const { common: base, ns, ticksTopic } = sliceEnv('rollups');
  const common = { ...base, ROLLUPS_APP_ID: `${ns.id}-rollups` };
  const SECONDS = 150;
  const RATE = 200;
  // Two days ago 14:58:30 UTC = 23:58:30 KST: the run crosses an hour and a KST day. Recent on purpose:
  // ticks older than the topic's 7-day retention can be deleted while the test runs.
  const start = daysAgoAt(2, '14:58:30');

  const [, rollups] = await startChain(common, 'market.candles.1m.v1,market.candles.1d.v1');

  await simulate(common, { symbols: 30, ticksPerSecond: RATE, seconds: SECONDS, start: start.toISOString(), seed: 11 });
  const ticks = await readTicks(ticksTopic, SECONDS * RATE);

  // A trade a day later in every partition moves every partition's stream time past all these windows.
  const cutoff = await sendClosingTicks(ticksTopic, start.getTime() * 1000 + 26 * 3600 * 1_000_000, 3);
  assert.equal(new Set([...expectedWindows(ticks, '1d').keys()].map((k) => k.split('@')[1])).size, 2, 'the ticks span two KST days');
  await assertRollupsEqualTicks(ns, ticks, cutoff, ['1m', '1d']);
  assert.equal(rollups?.child.exitCode, null, 'the roll-ups kept running');
});

test('a KRX afternoon: candles carry the session; windows holding the closing cross and after-hours trades are MIXED with their regular part; the regular-hours chart query is exact', async () => {
  const { common: base, ns, ticksTopic } = sliceEnv('sessions');
  const common = { ...base, ROLLUPS_APP_ID: `${ns.id}-rollups` };
  // 15:18-15:47 KST: continuous trading to 15:20, the closing auction crossing at 15:30:00, closing-price
  // trading (KRX) and the after-market (NXT) from 15:40, at once.
  const start = daysAgoAt(2, '06:18');
  const SECONDS = 29 * 60;

  await startChain(common, 'market.candles.15m.v1,market.candles.1h.v1');

  await simulate(common, { symbols: 20, ticksPerSecond: 40, seconds: SECONDS, start: start.toISOString(), seed: 5, session: 'krx' });
  const admin = testKafka().admin();
  await admin.connect();
  const produced = (await admin.fetchTopicOffsets(ticksTopic)).reduce((n, p) => n + Number(p.high), 0);
  await admin.disconnect();
  const ticks = await readTicks(ticksTopic, produced);
  const sessions = new Set(ticks.map((t) => t.marketSession));
  for (const s of ['REGULAR', 'CLOSING_PRICE', 'AFTER_MARKET'] as const) assert.ok(sessions.has(s), `the afternoon has ${s} trades`);
  const mixed15m = [...expectedWindowSessions(ticks, rollupWindow('15m').sizeMicros).values()].filter((w) => w.marketSession === 'MIXED' && w.regularVolume !== null);
  assert.ok(mixed15m.length > 0, 'some 15 m windows hold the closing cross and after-hours trades');

  const cutoff = await sendClosingTicks(ticksTopic, start.getTime() * 1000 + 26 * 3600 * 1_000_000, 3);
  // Every interval's finals (OHLCV and session fields) against the ticks, and the two QuestDB tables.
  await assertRollupsEqualTicks(ns, ticks, cutoff, ['15m', '1h']);

  // The dashboard's regular-hours rows: REGULAR candles whole, MIXED ones by their regular part.
  const regular = expectedCandles(ticks.filter((t) => t.marketSession === 'REGULAR'), rollupWindow('1h').sizeMicros);
  const rows = await questdbQuery(`select symbol, ts, coalesce(regular_open, open) o, coalesce(regular_high, high) h, coalesce(regular_low, low) l, coalesce(regular_close, close) c, coalesce(regular_volume, volume) v
    from "${ns.tablePrefix}candles_1h" where (market_session = 'REGULAR' or regular_open is not null) and ts < '${new Date(cutoff / 1000).toISOString()}'`);
  assert.equal(rows.length, regular.size, 'one regular-hours row per window with regular trades');
  for (const r of rows) {
    const e = regular.get(`${r['symbol']}@${isoToMicros(r['ts'] as string)}`);
    assert.deepEqual([r['o'], r['h'], r['l'], r['c'], r['v']], [e?.open, e?.high, e?.low, e?.close, e?.volume], `regular hours ${r['symbol']} ${r['ts']}`);
  }
});
