import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FakeKisServer } from '../../fakes/kis/server.js';
import { expectedSecondCandles } from '../../helpers/candles.js';
import { sliceEnv, stopAll } from '../../helpers/pipeline.js';
import { isoToMicros, questdbQuery } from '../../helpers/questdb.js';
import { startService, type RunningService } from '../../helpers/service-process.js';
import { waitFor } from '../../helpers/wait.js';
import { ACCOUNTS, producerEnv, readAllTicks, settledTicks } from './helpers.js';

const running: RunningService[] = [];
let fake: FakeKisServer | undefined;
after(async () => {
  await stopAll(...running);
  await fake?.close();
});

test('fake KIS → producer → Kafka → candle processor → QuestDB: the final 1 s candles equal the OHLCV computed from the ticks read back from Kafka', async () => {
  const { common, ns, ticksTopic } = sliceEnv('kise2e');
  const accounts = ACCOUNTS.slice(0, 2);
  // Two sessions deliver independently, so a symbol's partition may see one a little behind the
  // other: a 3 s grace keeps that from making trades late on a busy two-core machine.
  const processor = startService('stream-processors/candles/main.js', { ...common, CANDLE_GRACE_MS: '3000' });
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.ticks.v1,market.candles.1s.v1' });
  running.push(processor, sink);
  await processor.waitForLog(/candle processor running/);
  await sink.waitForLog(/QuestDB sink running/);

  fake = await FakeKisServer.start({ accounts, universe: 40, ticksPerSecond: 400, maxRecordsPerFrame: 4, pingIntervalMs: 1_000, pongTimeoutMs: 3_000, marketRunning: false });
  const symbols = fake.listings.slice(0, 30).map((l) => l.symbol);
  const producer = startService('producers/kis/main.js', producerEnv(fake, ns.topicNamespace, accounts, { KIS_SYMBOLS: symbols.join(','), KIS_TRS: 'H0STCNT0,H0STASP0', LOG_LEVEL: 'info' }));
  running.push(producer);
  await producer.waitForLog(/kis producer running/);
  const port = await producer.metricsPort();
  const f = fake;
  await waitFor('60 registrations', () => (accounts.every((a) => f.registrations(a.appKey).length === 30) ? true : undefined), { timeoutMs: 30_000 });

  fake.resumeMarket();
  await new Promise((r) => setTimeout(r, 8_000));
  fake.pauseMarket();

  const produced = await settledTicks(port, ticksTopic);
  const sentTrades = fake.sent.filter((s) => s.trId === 'H0STCNT0');
  assert.equal(produced, sentTrades.length, 'every trade the fake sent was produced');
  const ticks = await readAllTicks(ticksTopic, produced);
  assert.ok(ticks.every((t) => t.source === 'KIS'));
  const expected = expectedSecondCandles(ticks);
  assert.ok(expected.size > 8 * 10, `a realistic spread of symbols per second (${expected.size} candles)`);

  const candlesTable = `${ns.tablePrefix}candles_1s`;
  await waitFor('every final candle in QuestDB', async () => {
    const [row] = await questdbQuery(`select count() n from "${candlesTable}" where is_final`);
    return row?.['n'] === expected.size ? true : undefined;
  }, { timeoutMs: 90_000, intervalMs: 500 });

  const rows = await questdbQuery(`select symbol, ts, open, high, low, close, volume, traded_value, trade_count, is_final from "${candlesTable}" where is_final`);
  assert.equal(rows.length, expected.size);
  for (const r of rows) {
    const key = `${r['symbol']}@${isoToMicros(r['ts'] as string)}`;
    const e = expected.get(key);
    assert.ok(e, `unexpected candle ${key}`);
    assert.deepEqual(
      { open: r['open'], high: r['high'], low: r['low'], close: r['close'], volume: r['volume'], tradedValue: r['traded_value'], tradeCount: r['trade_count'] },
      { open: e.open, high: e.high, low: e.low, close: e.close, volume: e.volume, tradedValue: e.tradedValue, tradeCount: e.tradeCount },
      key,
    );
  }
  await waitFor('every tick in QuestDB once', async () => {
    const [row] = await questdbQuery(`select count() n from "${ns.tablePrefix}ticks"`);
    return row?.['n'] === ticks.length ? true : undefined;
  }, { timeoutMs: 30_000, intervalMs: 500 });
  for (const s of running) assert.equal(s.child.exitCode, null);
});
