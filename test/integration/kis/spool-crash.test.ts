import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FakeKisServer } from '../../fakes/kis/server.js';
import { metricAt } from '../../helpers/metrics.js';
import { sliceEnv, stopAll } from '../../helpers/pipeline.js';
import { startService, type RunningService } from '../../helpers/service-process.js';
import { killServer, stack } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';
import { ACCOUNTS, producerEnv } from './helpers.js';
import { kafkaTicksBySymbol, sentTradesBySymbol, waitForHealth } from './outage-helpers.js';

// Kills the Kafka broker of the stack it runs on: run it on a stack of its own (KMARKET_STACK_HOME).

const running: RunningService[] = [];
let fake: FakeKisServer | undefined;
after(async () => {
  await stopAll(...running);
  await fake?.close();
});

test('the producer SIGKILLed while Kafka is down: the restarted producer replays the spool; only the tail not yet written to it is lost', async (t) => {
  const { ns, ticksTopic } = sliceEnv('kisspool');
  const accounts = ACCOUNTS.slice(0, 1);
  fake = await FakeKisServer.start({ accounts, universe: 40, ticksPerSecond: 300, maxRecordsPerFrame: 4, pingIntervalMs: 1_000, pongTimeoutMs: 3_000, marketRunning: false });
  const symbols = fake.listings.slice(0, 20).map((l) => l.symbol);
  const env = producerEnv(fake, ns.topicNamespace, accounts, {
    KIS_SYMBOLS: symbols.join(','),
    KIS_TRS: 'H0STCNT0',
    KIS_BUFFER_MAX_AGE_MS: '1000',
    LOG_LEVEL: 'info',
  });
  const first = startService('producers/kis/main.js', env);
  running.push(first);
  await first.waitForLog(/kis producer running/);
  const port = await first.metricsPort();
  const f = fake;
  await waitFor('20 registrations', () => (f.registrations(accounts[0]?.appKey as string).length === 20 ? true : undefined), { timeoutMs: 30_000 });
  fake.resumeMarket();
  await waitFor('ticks in Kafka', async () => ((await metricAt(port, 'kis_messages_produced_total', { topic: ticksTopic })) > 100 ? true : undefined), { timeoutMs: 30_000 });

  await killServer('kafka');
  await waitForHealth(port, 503, 15_000);
  await waitFor('frames spooled', async () => ((await metricAt(port, 'kis_spooled_frames_total')) > 200 ? true : undefined), { timeoutMs: 30_000 });
  // The fake runs in this process: how many records it had sent when the kill was sent, and a
  // second before, bound what the producer can have failed to write.
  const sentSecondBefore = fake.sent.length;
  await waitFor('a second of trades more', () => (f.sent.length > sentSecondBefore + 150 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
  const sentAtKill = fake.sent.length;
  first.child.kill('SIGKILL');
  await first.exited;
  fake.pauseMarket();

  stack('up', 'kafka');
  const second = startService('producers/kis/main.js', env);
  running.push(second);
  await second.waitForLog(/replaying them before anything new/, 120_000);
  const port2 = await second.metricsPort();
  await waitFor('the spool replayed and acknowledged', async () => ((await metricAt(port2, 'kis_spooling')) === 0 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
  assert.equal(await metricAt(port2, 'kis_spool_torn_records_total'), 0, 'SIGKILL leaves no torn record (writes reach the kernel whole)');

  const sent = sentTradesBySymbol(fake, sentAtKill);
  const sentCount = [...sent.values()].reduce((n, l) => n + l.length, 0);
  const { bySymbol } = await kafkaTicksBySymbol(ticksTopic, 1);
  const inKafka = new Set([...bySymbol.values()].flat());
  // Lost: sent before the kill and not in Kafka. Each symbol's loss must be a tail (the frames
  // not yet written), never a gap; and all of it among what was sent in the last second.
  const tail = new Set([...sent.entries()].flatMap(([s, list]) => list.slice((sentTradesBySymbol(f, sentSecondBefore).get(s) ?? []).length)));
  let lost = 0;
  for (const [symbol, trades] of sent) {
    const kept = [...new Set(bySymbol.get(symbol) ?? [])].filter((id) => trades.includes(id));
    assert.deepEqual(kept, trades.slice(0, kept.length), `${symbol}: what reached Kafka is a prefix of what KIS sent, in order`);
    for (const id of trades.slice(kept.length)) {
      assert.ok(tail.has(id), `${symbol}: ${id} was lost but sent more than a second before the kill`);
      lost++;
    }
  }
  t.diagnostic(`${sentCount} trades sent before the kill, ${inKafka.size} in Kafka, ${lost} lost (sent in the last second before the SIGKILL and not yet spooled), ${await metricAt(port2, 'kis_replayed_frames_total')} frames replayed`);
  assert.ok(sentCount - lost > sentCount * 0.9, 'most of the outage was replayed from the spool');
  assert.equal(second.child.exitCode, null);
});
