import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Candle, Indicators } from '../../schemas/generated/types.js';
import { CANDLE_INTERVALS, type CandleInterval } from '../../lib/topics.js';
import { Random } from '../../producers/simulator/random.js';
import { IndicatorProcessor, indicatorStores, type IndicatorOutputs } from '../../stream-processors/indicators/processor.js';
import { decodeCheckpointMetadata } from '../../stream-processors/runtime/checkpoint.js';
import { TestDriver } from '../../stream-processors/runtime/test-driver.js';
import { expectedSecondCandles } from '../helpers/candles.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import { readTicks, simulate, sliceEnv, stopAll, waitForGroupCaughtUp } from '../helpers/pipeline.js';
import { assertRollupsEqualTicks, readFinals, sendClosingTicks } from '../helpers/rollups.js';
import { startInOrder, type RunningService } from '../helpers/service-process.js';
import { stackEnv } from '../helpers/stack.js';
import { daysAgoAt } from '../helpers/time.js';
import { waitFor } from '../helpers/wait.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

/** Downstream first: a candle processor started alone would finish the backlog before they run. */
const PROCESSORS = [
  ['stream-processors/indicators/main.js', /indicators running/],
  ['stream-processors/rollups/main.js', /candle roll-ups running/],
  ['stream-processors/candles/main.js', /candle processor running/],
] as const;

/**
 * The reference for the indicators: the indicator processor's deterministic core on the runtime's
 * in-memory driver, fed each symbol's final candles once, in order — no Kafka, no restart, no timing.
 * (The core itself equals TA-Lib: indicators.test.ts.) The candles it is fed are the crash run's,
 * after they were checked equal to an independent computation from the ticks.
 */
function referenceIndicators(finals: Iterable<Candle>): Map<string, Indicators> {
  const driver = new TestDriver<Candle, IndicatorOutputs>({ processor: () => new IndicatorProcessor(), stores: indicatorStores });
  for (const c of [...finals].sort((a, b) => a.windowStart - b.windowStart)) driver.pipe(0, c.symbol, c, IndicatorProcessor.timestamp(c));
  driver.commit();
  const out = new Map<string, Indicators>();
  for (const r of driver.output('indicators', { committed: true })) {
    const v = r.value as Indicators;
    out.set(`${v.symbol}@${v.windowStart}`, v);
  }
  return out;
}

test('kill -9 of candles, roll-ups and indicators at ten random moments of a 200,000-tick run: final candles of every interval and final indicators equal a fault-free computation', async () => {
  const { common: base, ns, ticksTopic } = sliceEnv('chaincrash');
  const common = {
    ...base,
    ROLLUPS_APP_ID: `${ns.id}-rollups`,
    INDICATORS_APP_ID: `${ns.id}-indicators`,
    CONSUMER_SESSION_TIMEOUT_MS: '6000', // the broker's minimum: quick takeover after a kill
  };
  // While the candle processor is down, the roll-ups' input is quiet and caught up, so after
  // PARTITION_IDLE_MS their stream time follows the wall clock: right for live input, but in a replay
  // of history it can close a window whose last 1 s finals are still in the backlog (they would turn
  // late), and a fault-free run cannot reproduce wall-clock time. Here the roll-ups' stream time moves
  // only with records (CHAIN_CRASH_ROLLUP_IDLE_MS=1000 runs them with the default instead).
  const rollupsEnv = { ...common, PARTITION_IDLE_MS: process.env['CHAIN_CRASH_ROLLUP_IDLE_MS'] ?? '3600000' };
  // In a catch-up the candle processor commits about once a second by default, and it gets through
  // ~200,000 ticks a second: one commit could take the whole rest of the run, and the next kill found
  // nothing left to do (kill 6 of seed 283361). Due every 20 ms, a commit holds at most one fetched
  // batch (4 MiB, ≈ 46,000 ticks of one partition) and what came before it in those 20 ms (≈ 5,000).
  const candlesEnv = { ...common, COMMIT_INTERVAL_MS: '20', CATCHUP_COMMIT_INTERVAL_MS: '20' };
  const KILLS = 10;
  const SYMBOLS = 10;
  const RATE = 100;
  const SECONDS = 2000;
  const TOTAL = RATE * SECONDS; // RATE is the whole market's
  // 23:40 KST to 00:13:20 KST: hours and a KST day end within the run.
  const start = daysAgoAt(2, '14:40');
  await simulate(common, { symbols: SYMBOLS, ticksPerSecond: RATE, seconds: SECONDS, start: start.toISOString(), seed: 7 });
  const ticks = await readTicks(ticksTopic, TOTAL);

  const seed = Number(process.env['CHAIN_CRASH_SEED'] ?? Date.now() % 1_000_000);
  console.log(`chain-crash seed ${seed} (CHAIN_CRASH_SEED=${seed} repeats these kill moments)`);
  const rng = new Random(seed);
  // Half the rounds (at random) first wait for the candle processor's next commit, so the run moves
  // on; every kill then falls a random 0–1.5 s later: mid-restore, mid-batch, or while the roll-ups
  // and indicators work through the candles just committed. Once 45 % of the ticks are committed, a
  // kill comes at once. Below that cap, the awaited commit and one more slipping in before the kill
  // add at most ≈ 102,000 ticks: work is left for the chain at every kill, whatever the speed of the
  // machine.
  const rounds = Array.from({ length: KILLS }, () => ({ afterCommit: rng.next() < 0.5, delayMs: rng.int(0, 1500) }));
  const cap = 0.45 * TOTAL;

  const admin = testKafka().admin();
  await admin.connect();
  /** Ticks the candle processor has processed and committed (each partition's checkpoint `hw`). */
  const committedTicks = async () => {
    const [g] = await admin.fetchOffsets({ groupId: `${ns.id}-candles`, topics: [ticksTopic] });
    return (g?.partitions ?? []).reduce((s, p) => s + (decodeCheckpointMetadata(Number(p.offset), p.metadata)?.processedUpTo ?? 0), 0);
  };
  // One after the other, each running before the next starts: so every processor has work when it
  // is killed, and services creating the same topics at the same moment trip over kafkajs's leader wait.
  // A restart after a kill -9 is slower to be ready (the dead members' group sessions and transactions are still open).
  const startChain = () => startInOrder(PROCESSORS.map(([main, ready]) => [main, main.includes('rollups') ? rollupsEnv : main.includes('candles') ? candlesEnv : common, ready] as const), running, 60_000);
  try {
    for (let k = 0; k < KILLS; k++) {
      const chain = await startChain();
      const { afterCommit, delayMs } = rounds[k] as { afterCommit: boolean; delayMs: number };
      const before = await committedTicks();
      if (afterCommit && before < cap) {
        await waitFor('a commit of the candle processor', async () => ((await committedTicks()) > before ? true : undefined), { timeoutMs: 120_000, intervalMs: 20 });
      }
      const killAt = Date.now() + delayMs;
      while (Date.now() < killAt && (await committedTicks()) < cap) await new Promise((r) => setTimeout(r, 20));
      for (const s of chain) s.child.kill('SIGKILL');
      await Promise.all(chain.map((s) => s.exited));
      const done = await committedTicks();
      console.log(`kill ${k + 1} ${delayMs} ms after ${afterCommit ? 'a commit' : 'the start'}: ${done} of ${TOTAL} ticks processed and committed by the candle processor`);
      assert.ok(done < TOTAL, `kill ${k + 1} left work: ${done} of ${TOTAL}`);
    }
  } finally {
    await admin.disconnect();
  }

  await startChain();
  await waitForGroupCaughtUp(`${ns.id}-candles`, ticksTopic, 180_000);
  // Trades a day later in every partition close every window of the run (the second one closes the
  // first one's second, whose final then moves the roll-ups' stream time).
  const closeAt = start.getTime() * 1000 + 26 * 3600 * 1_000_000;
  const cutoff = await sendClosingTicks(ticksTopic, closeAt, 3);
  await sendClosingTicks(ticksTopic, closeAt + 2_000_000, 3);

  const expected1s = expectedSecondCandles(ticks);
  const topic = (kind: 'candles' | 'indicators', iv: CandleInterval) => `${ns.topicNamespace}market.${kind}.${iv}.v1`;
  const finals1s = await waitFor('every 1 s final', async () => {
    const f = await readFinals(topic('candles', '1s'), cutoff);
    return f.size >= expected1s.size ? f : undefined;
  }, { timeoutMs: 120_000, intervalMs: 2_000 });
  assert.equal(finals1s.size, expected1s.size, '1s: one final per window, none missing');
  for (const [key, e] of expected1s) {
    const c = finals1s.get(key);
    assert.ok(c, `1s: missing ${key}`);
    assert.deepEqual({ symbol: c.symbol, windowStart: c.windowStart, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, tradedValue: c.tradedValue, tradeCount: c.tradeCount }, e, `1s ${key}`);
  }
  await assertRollupsEqualTicks(ns, ticks, cutoff, []);

  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  let compared = 0;
  for (const iv of CANDLE_INTERVALS) {
    const want = referenceIndicators((iv === '1s' ? finals1s : await readFinals(topic('candles', iv), cutoff)).values());
    const got = await waitFor(`every final indicator set of ${iv}`, async () => {
      const out = new Map<string, Indicators>();
      for (const m of await readTopic(topic('indicators', iv), { quietMs: 1_500 })) {
        const r = (await registry.decode(m.value as Buffer)) as Indicators;
        if (!r.isFinal || r.windowStart >= cutoff) continue;
        const key = `${r.symbol}@${r.windowStart}`;
        assert.ok(!out.has(key), `${iv}: a second final indicator set for ${key}`);
        out.set(key, r);
      }
      return out.size >= want.size ? out : undefined;
    }, { timeoutMs: 120_000, intervalMs: 2_000 });
    assert.equal(got.size, want.size, `${iv}: one final indicator set per final candle`);
    for (const [key, e] of want) {
      const g = got.get(key);
      assert.ok(g, `${iv}: missing indicators ${key}`);
      assert.deepEqual({ ...g, emittedAt: 0 }, { ...e, emittedAt: 0 }, `${iv} ${key}`);
      compared++;
    }
  }
  assert.ok(compared > expected1s.size, `${compared} indicator sets compared`);
});
