import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FakeKisServer } from '../../fakes/kis/server.js';
import { metricAt } from '../../helpers/metrics.js';
import { sliceEnv, stopAll } from '../../helpers/pipeline.js';
import { questdbQuery } from '../../helpers/questdb.js';
import { startService, type RunningService } from '../../helpers/service-process.js';
import { killServer, stack } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';
import { ACCOUNTS, producerEnv } from './helpers.js';
import { duplicates, kafkaTicksBySymbol, sentTradesBySymbol, waitForHealth } from './outage-helpers.js';

// Kills the Kafka broker of the stack it runs on: run it on a stack of its own (KMARKET_STACK_HOME).
const OUTAGE_MS = 30_000;

const running: RunningService[] = [];
let fake: FakeKisServer | undefined;
after(async () => {
  await stopAll(...running);
  await fake?.close();
});

test('Kafka SIGKILLed for 30 s while KIS sends trades: the producer keeps reading, every trade reaches Kafka after it in per-symbol order, none twice in QuestDB', async (t) => {
  const { ns, common, ticksTopic } = sliceEnv('kisoutage');
  const accounts = ACCOUNTS.slice(0, 1);
  fake = await FakeKisServer.start({ accounts, universe: 40, ticksPerSecond: 300, maxRecordsPerFrame: 4, pingIntervalMs: 1_000, pongTimeoutMs: 3_000, marketRunning: false });
  const symbols = fake.listings.slice(0, 20).map((l) => l.symbol);
  const producer = startService('producers/kis/main.js', producerEnv(fake, ns.topicNamespace, accounts, {
    KIS_SYMBOLS: symbols.join(','),
    KIS_TRS: 'H0STCNT0',
    KIS_BUFFER_MAX_AGE_MS: '1000',
    LOG_LEVEL: 'info',
  }));
  running.push(producer);
  await producer.waitForLog(/kis producer running/);
  const port = await producer.metricsPort();
  const f = fake;
  await waitFor('20 registrations', () => (f.registrations(accounts[0]?.appKey as string).length === 20 ? true : undefined), { timeoutMs: 30_000 });
  fake.resumeMarket();
  await waitFor('ticks in Kafka', async () => ((await metricAt(port, 'kis_messages_produced_total', { topic: ticksTopic })) > 100 ? true : undefined), { timeoutMs: 30_000 });

  const heapAt = () => metricAt(port, 'nodejs_heap_size_used_bytes');
  await killServer('kafka');
  const connectionsBefore = fake.connections().length;
  await waitForHealth(port, 503, 15_000);
  await waitFor('frames spooled', async () => ((await metricAt(port, 'kis_spooled_frames_total')) > 50 ? true : undefined), { timeoutMs: 20_000 });
  const before = { heap: await heapAt(), trades: await metricAt(port, 'kis_records_total'), at: Date.now() };
  // The outage itself lasts a set time: that is the scenario, not a wait for a result.
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  const minutes = (Date.now() - before.at) / 60_000;
  const spooledTrades = (await metricAt(port, 'kis_records_total')) - before.trades;
  t.diagnostic(`while spooling: ${(spooledTrades / minutes / 60).toFixed(0)} trades/s, heap ${(((await heapAt()) - before.heap) / minutes / 1e6).toFixed(1)} MB per minute, buffer ${await metricAt(port, 'kis_buffer_bytes')} bytes, spool ${await metricAt(port, 'kis_spool_bytes')} bytes after ${await metricAt(port, 'kis_spooled_frames_total')} frames`);
  assert.equal(fake.connections().length, connectionsBefore, 'the KIS session was not dropped during the outage');
  assert.ok(fake.connections().every((c) => c.open), 'the KIS session is still open');
  stack('up', 'kafka');

  await waitForHealth(port, 200, 120_000);
  await waitFor('the spool replayed and acknowledged', async () => ((await metricAt(port, 'kis_spooling')) === 0 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
  fake.pauseMarket();
  const sent = sentTradesBySymbol(fake);
  const sentCount = [...sent.values()].reduce((n, l) => n + l.length, 0);
  await waitFor('every trade parsed is acknowledged', async () => {
    const parsed = await metricAt(port, 'kis_records_total', { tr_id: 'H0STCNT0' });
    const produced = await metricAt(port, 'kis_messages_produced_total', { topic: ticksTopic });
    return parsed === sentCount && produced === parsed ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });

  const { bySymbol, total } = await kafkaTicksBySymbol(ticksTopic, sentCount);
  const inKafkaTwice = duplicates(bySymbol);
  t.diagnostic(`${sentCount} trades sent, ${total} ticks in Kafka (${inKafkaTwice} twice), ${await metricAt(port, 'kis_replayed_frames_total')} frames replayed from the spool`);
  for (const [symbol, trades] of sent) {
    // Kafka may hold a retried request twice; the first occurrences are the order consumers see.
    assert.deepEqual([...new Set(bySymbol.get(symbol) ?? [])], trades, `${symbol}: every trade, in the order KIS sent them`);
  }
  assert.equal(new Set([...bySymbol.values()].flat()).size, sentCount, 'nothing that KIS did not send');

  const errors = producer.output().split('\n').filter((l) => l.includes('"level":50') && !l.includes('"component":"kafkajs"'));
  assert.deepEqual(errors, [], 'no error line of the producer (kafkajs\'s own retries aside)');
  assert.equal(producer.output().split('\n').filter((l) => l.includes('Kafka has not acknowledged anything')).length, 1, 'one warning for the outage');
  assert.equal(producer.child.exitCode, null, 'the producer is still running');

  // Downstream: QuestDB's DEDUP key keeps each trade once, duplicates in Kafka or not.
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.ticks.v1' });
  running.push(sink);
  await waitFor('every trade in QuestDB once', async () => {
    const [row] = await questdbQuery(`select count() n from "${ns.tablePrefix}ticks"`);
    return row?.['n'] === sentCount ? true : undefined;
  }, { timeoutMs: 90_000, intervalMs: 1_000 }).catch((err: Error) => {
    throw new Error(`${err.message}\nQuestDB sink output:\n${sink.output().slice(-4000)}`);
  });
  const [distinct] = await questdbQuery(`select count() n from (select distinct symbol, seq from "${ns.tablePrefix}ticks")`);
  assert.equal(distinct?.['n'], sentCount);
});
