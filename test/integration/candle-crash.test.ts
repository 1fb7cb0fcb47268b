import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Candle, Tick } from '../../schemas/generated/types.js';
import { Random } from '../../producers/simulator/random.js';
import { expectedSecondCandles } from '../helpers/candles.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import { readTicks, simulate, sliceEnv, stopAll, waitForGroupCaughtUp } from '../helpers/pipeline.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { yesterdayAt } from '../helpers/time.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

test('kill -9 of the candle processor at random moments: after restarts, exactly one final per window, equal to a fault-free computation', async () => {
  const { common: base, ns, ticksTopic, candlesTopic } = sliceEnv('crash');
  const common = { ...base, CONSUMER_SESSION_TIMEOUT_MS: '6000' }; // the broker's minimum: quick takeover after a kill
  const ROUNDS = 4;
  const SECONDS = 15;
  const RATE = 1000;
  // Each round first adds a fresh slice of ticks, so every processor that is killed has work to do and
  // must make progress (a single up-front backlog was all processed by the first instance, and later
  // rounds then had nothing to emit). Slices are an hour apart in event time: while a processor sits
  // idle, its stream time follows the wall clock, and that must never reach the next slice's ticks
  // (they would turn late, which this test does not exercise).
  const sliceStart = (round: number) => new Date(yesterdayAt('00:00').getTime() + round * 3600_000).toISOString();

  const admin = testKafka().admin();
  await admin.connect();
  const candlesHigh = async () => {
    const offsets = await admin.fetchTopicOffsets(candlesTopic).catch(() => []);
    return offsets.reduce((s, o) => s + Number(o.high), 0);
  };
  const rng = new Random(2026);
  let kills = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await simulate(common, { symbols: 100, ticksPerSecond: RATE, seconds: SECONDS, start: sliceStart(round), seed: 3 + round });
      const before = await candlesHigh();
      const p = startService('stream-processors/candles/main.js', common);
      running.push(p);
      await p.waitForLog(/candle processor running/);
      // Kill it once it has committed something from this slice, a random moment later (mid-slice:
      // a slice takes this machine about a second).
      await waitFor('progress on the output topic', async () => ((await candlesHigh()) > before ? true : undefined), { timeoutMs: 60_000, intervalMs: 20 });
      await new Promise((r) => setTimeout(r, rng.int(0, 300)));
      p.child.kill('SIGKILL');
      await p.exited;
      kills++;
    }
  } finally {
    await admin.disconnect();
  }
  const ticks: Tick[] = await readTicks(ticksTopic, ROUNDS * SECONDS * RATE);
  const expected = expectedSecondCandles(ticks);
  const last = startService('stream-processors/candles/main.js', common);
  running.push(last);
  await waitForGroupCaughtUp(`${ns.id}-candles`, ticksTopic, 120_000);
  assert.equal(kills, ROUNDS);

  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const messages = await readTopic(candlesTopic, { quietMs: 3_000 });
  const finals = new Map<string, Candle>();
  for (const m of messages) {
    const c = (await registry.decode(m.value as Buffer)) as Candle;
    if (!c.isFinal) continue;
    const key = `${c.symbol}@${c.windowStart}`;
    assert.ok(!finals.has(key), `duplicate final for ${key}`);
    finals.set(key, c);
  }
  assert.equal(finals.size, expected.size, 'no window lost');
  for (const [key, e] of expected) {
    const c = finals.get(key);
    assert.ok(c, `missing final ${key}`);
    assert.deepEqual(
      { open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, tradedValue: c.tradedValue, tradeCount: c.tradeCount },
      { open: e.open, high: e.high, low: e.low, close: e.close, volume: e.volume, tradedValue: e.tradedValue, tradeCount: e.tradeCount },
      key,
    );
  }
});
