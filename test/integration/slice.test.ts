import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { expectedSecondCandles } from '../helpers/candles.js';
import { readTopic } from '../helpers/kafka.js';
import { metricValue } from '../helpers/metrics.js';
import { readTicks, simulate, sliceEnv, stopAll, waitForGroupCaughtUp } from '../helpers/pipeline.js';
import { isoToMicros, questdbQuery } from '../helpers/questdb.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';
import { yesterdayAt } from '../helpers/time.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

test('simulator → candle processor → QuestDB: every symbol and second has exactly the OHLCV computed from the ticks, and a full replay adds no row', async (t) => {
  const { common, ns, ticksTopic, candlesTopic } = sliceEnv('slice');
  const SYMBOLS = 40;
  const SECONDS = 20;
  const RATE = 400;

  const processor = startService('stream-processors/candles/main.js', common);
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.ticks.v1,market.candles.1s.v1' });
  running.push(processor, sink);
  await processor.waitForLog(/candle processor running/);
  await sink.waitForLog(/QuestDB sink running/);

  await simulate(common, { symbols: SYMBOLS, ticksPerSecond: RATE, seconds: SECONDS, start: yesterdayAt('01:00').toISOString(), seed: 7 });
  const ticks = await readTicks(ticksTopic, SECONDS * RATE);
  assert.equal(ticks.length, SECONDS * RATE);
  const expected = expectedSecondCandles(ticks);
  assert.ok(expected.size > SECONDS * 10, `a realistic spread of symbols per second (${expected.size} candles)`);

  const candlesTable = `${ns.tablePrefix}candles_1s`;
  const ticksTable = `${ns.tablePrefix}ticks`;
  // The last windows close when the idle partition's stream time follows the wall clock past end + grace.
  await waitFor('all final candles in QuestDB', async () => {
    const [row] = await questdbQuery(`select count() n from "${candlesTable}" where is_final`);
    // At least, not equal: a count that passed the target must fail the assertions below, not hang here.
    return Number(row?.['n']) >= expected.size ? true : undefined;
  }, { timeoutMs: 90_000 });

  const rows = await questdbQuery(`select symbol, ts, open, high, low, close, volume, traded_value, trade_count, vwap, is_final from "${candlesTable}"`);
  assert.equal(rows.length, expected.size, 'one row per symbol and second: in-progress versions were overwritten by the final');
  for (const r of rows) {
    const key = `${r['symbol']}@${isoToMicros(r['ts'] as string)}`;
    const e = expected.get(key);
    assert.ok(e, `unexpected candle ${key}`);
    assert.deepEqual(
      { open: r['open'], high: r['high'], low: r['low'], close: r['close'], volume: r['volume'], tradedValue: r['traded_value'], tradeCount: r['trade_count'], isFinal: r['is_final'] },
      { open: e.open, high: e.high, low: e.low, close: e.close, volume: e.volume, tradedValue: e.tradedValue, tradeCount: e.tradeCount, isFinal: true },
      key,
    );
    assert.ok(Math.abs((r['vwap'] as number) - e.tradedValue / e.volume) < 1e-6);
  }
  const [tickRow] = await questdbQuery(`select count() n, sum(quantity) q from "${ticksTable}"`);
  assert.deepEqual(tickRow, { n: ticks.length, q: ticks.reduce((s, t) => s + t.quantity, 0) });

  // Replay: a second processor (a new application id) re-reads every tick and writes every candle to
  // the topic again, and a second sink group re-writes ticks and all candle versions into the same tables.
  const replayEnv = { ...common, CANDLES_APP_ID: `${ns.id}-candles-replay`, SINK_GROUP_ID: `${ns.id}-sink-replay` };
  const processor2 = startService('stream-processors/candles/main.js', replayEnv);
  running.push(processor2);
  // Caught up = every window closed and committed: its checkpoint reached the end of the ticks.
  await waitForGroupCaughtUp(`${ns.id}-candles-replay`, ticksTopic);
  const candleMessages = (await readTopic(candlesTopic, { quietMs: 3_000 })).length;
  const sink2 = startService('sinks/questdb/main.js', { ...replayEnv, SINK_TOPICS: 'market.ticks.v1,market.candles.1s.v1' });
  running.push(sink2);
  // Both sinks have flushed every candle version the topic holds, and sink 2 every tick again. The
  // counter counts a row again when the sink re-reads it after a rewind or a rebalance (QuestDB
  // deduplicates it), so it may pass the message count: wait for at least, never for equality, which
  // could hang for good. (Committed offsets cannot say it either: the candles topic is written in
  // transactions, and its logs end with a commit marker that a consumer never commits past.)
  for (const [name, svc, table, n] of [['sink 1', sink, candlesTable, candleMessages], ['sink 2', sink2, candlesTable, candleMessages], ['sink 2', sink2, ticksTable, ticks.length]] as const) {
    const written = await waitFor(`${name}: ${n} rows flushed to ${table}`, async () => {
      const v = await metricValue(svc, 'sink_rows_written_total', { table });
      return v >= n ? v : undefined;
    }, { timeoutMs: 90_000 });
    t.diagnostic(`${name}: ${written} rows written to ${table} for ${n} messages`);
  }

  await waitFor('WAL applied', async () => {
    const [pending] = await questdbQuery(`select sum(case when writerTxn < sequencerTxn then 1 else 0 end) lagging from wal_tables() where name in ('${candlesTable}', '${ticksTable}')`);
    return pending?.['lagging'] === 0 ? true : undefined;
  });
  const [after1] = await questdbQuery(`select count() n, count_distinct(concat(symbol, '@', ts)) k from "${candlesTable}"`);
  assert.deepEqual(after1, { n: expected.size, k: expected.size }, 'candles: no duplicate after the replay');
  const [after2] = await questdbQuery(`select count() n from "${ticksTable}"`);
  assert.equal(after2?.['n'], ticks.length, 'ticks: no duplicate after the replay');
  assert.equal(processor.child.exitCode, null, 'the first processor kept running');
});
