import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FakeKisServer } from '../../fakes/kis/server.js';
import { startService } from '../../helpers/service-process.js';
import { freshNamespace } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';
import { ACCOUNTS, leakedSecrets, producerEnv, readAllTicks, settledTicks } from './helpers.js';
import { metricAt } from '../../helpers/metrics.js';

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const A = ACCOUNTS[0] as (typeof ACCOUNTS)[number];

test('a dropped connection and an unanswered PINGPONG: each time the same registrations come back and no tick sent after the reconnect is lost', async () => {
  const ns = freshNamespace('kisreconnect');
  // Heartbeats every 500 ms; a missing reply closes the session after three seconds (one second was
  // too tight for a producer on a 2-core box under a load of 20 and more).
  const fake = await FakeKisServer.start({ accounts: [A], universe: 60, ticksPerSecond: 2_000, maxRecordsPerFrame: 4, pingIntervalMs: 500, pongTimeoutMs: 3_000 });
  cleanup.push(() => fake.close());
  const symbols = fake.listings.slice(0, 20).map((l) => l.symbol);
  // Two Kafka producer threads here (the other tests run the default, one on the main thread).
  const producer = startService('producers/kis/main.js', producerEnv(fake, ns.topicNamespace, [A], { KIS_SYMBOLS: symbols.join(','), KIS_TRS: 'H0STCNT0,H0STASP0', KIS_PRODUCER_THREADS: '2' }));
  cleanup.push(async () => void (await producer.stop()));
  await producer.waitForLog(/kis producer running/);
  const port = await producer.metricsPort();
  const ticksTopic = `${ns.topicNamespace}market.ticks.v1`;

  const first = await waitFor('40 registrations', () => {
    const s = fake.session(A.appKey);
    return s && s.registrations.length === 40 ? s : undefined;
  }, { timeoutMs: 30_000 });
  const before = fake.registrations(A.appKey);
  assert.deepEqual(before, symbols.flatMap((s) => [`H0STASP0|${s}`, `H0STCNT0|${s}`]).sort());
  await waitFor('ticks flowing', async () => ((await metricAt(port, 'kis_messages_produced_total', { topic: ticksTopic })) > 200 ? true : undefined));

  // 1. The network drops the connection.
  assert.equal(fake.dropConnection(A.appKey), first.id);
  const second = await waitFor('a new session with every registration', () => {
    const s = fake.session(A.appKey);
    return s && s.id !== first.id && s.registrations.length === 40 ? s : undefined;
  }, { timeoutMs: 30_000 });
  assert.deepEqual(fake.registrations(A.appKey), before, 'exactly the registrations held before');
  await waitFor('trades on the new connection', () => (fake.sent.filter((s) => s.connection === second.id && s.trId === 'H0STCNT0').length > 500 ? true : undefined));

  // 2. The producer's PINGPONG replies go missing: the fake closes the session, the producer comes back.
  fake.ignorePongs(A.appKey);
  const third = await waitFor('a new session after the heartbeat timeout', () => {
    const s = fake.session(A.appKey);
    return s && s.id !== second.id && s.registrations.length === 40 ? s : undefined;
  }, { timeoutMs: 30_000 });
  assert.equal(fake.connections().find((c) => c.id === second.id)?.closeReason, 'PINGPONG not answered');
  assert.deepEqual(fake.registrations(A.appKey), before);
  await waitFor('trades on the third connection', () => (fake.sent.filter((s) => s.connection === third.id && s.trId === 'H0STCNT0').length > 500 ? true : undefined));
  fake.pauseMarket();

  // Every trade the fake sent after each reconnect reached Kafka, as the same (symbol, sequence) with the same price.
  const produced = await settledTicks(port, ticksTopic);
  const ticks = await readAllTicks(ticksTopic, produced);
  const inKafka = new Map(ticks.map((t) => [`${t.symbol}@${t.sequence}`, t]));
  assert.equal(inKafka.size, ticks.length, 'no trade twice');
  for (const conn of [second.id, third.id]) {
    const sent = fake.sent.filter((s) => s.connection === conn && s.trId === 'H0STCNT0');
    assert.ok(sent.length > 500);
    const missing = sent.filter((s) => !inKafka.has(`${s.symbol}@${s.cumulativeVolume}`));
    assert.deepEqual(missing.map((s) => `${s.symbol}@${s.cumulativeVolume}`), [], `lost after reconnect to connection ${conn}`);
    for (const s of sent) assert.equal(inKafka.get(`${s.symbol}@${s.cumulativeVolume}`)?.price, Number(s.record.split('^')[2]));
  }
  assert.equal(await metricAt(port, 'kis_reconnects_total', { session: '0' }), 2);
  assert.equal(producer.child.exitCode, null);
  assert.equal(await producer.stop(), 0);
  assert.deepEqual(leakedSecrets(producer, fake, [A]), []);
});
