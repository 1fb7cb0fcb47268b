import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { assertPipelineExact, healthStatus, simulatedTicks, sliceEnv, startLivePipeline, stopAll, waitForGroupCaughtUp } from '../helpers/pipeline.js';
import type { RunningService } from '../helpers/service-process.js';
import { killServer, stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const running: RunningService[] = [];
after(async () => {
  await stopAll(...running);
  stack('up', 'kafka'); // whatever happened, leave the stack as we found it
});

const OUTAGE_MS = 30_000;

test('Kafka killed with SIGKILL for 30 s under a live pipeline: no service exits, every tick is a QuestDB row once, final candles equal the OHLCV of those rows', async (t) => {
  const slice = sliceEnv('brokerdown');
  const { ns, ticksTopic } = slice;
  // Half the outage: a partition that is quiet only because Kafka is away must not have its stream
  // time follow the wall clock, or every tick the simulator held meanwhile would come in late.
  const common = { ...slice.common, PARTITION_IDLE_MS: String(OUTAGE_MS / 2) };
  const { processor, sink, simulator } = await startLivePipeline(common, ns, running, { symbols: 50, ticksPerSecond: 500, seconds: 40, seed: 11 });

  await killServer('kafka');
  const downAt = Date.now();
  try {
    for (const s of [simulator, processor, sink]) {
      await waitFor(`${s.entry} unhealthy while Kafka is away`, async () => ((await healthStatus(s)) === 503 ? true : undefined), { timeoutMs: OUTAGE_MS - 5_000, intervalMs: 200 });
    }
    // The outage is the scenario itself: hold it for its whole length.
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
    for (const s of [simulator, processor, sink]) assert.equal(s.child.exitCode, null, 'still running during the outage');
    simulator.child.kill('SIGSTOP');
  } finally {
    stack('up', 'kafka');
  }
  t.diagnostic(`Kafka was down for ${Date.now() - downAt} ms`);
  // The simulator reconnects a few seconds after the candle processor, as a producer with a longer
  // back-off or a spool to replay would: the processor must not take that quiet input, nor the outage
  // before it, for an idle market. Those seconds are the scenario, not a wait for a condition.
  try {
    await waitFor('the candle processor hears from Kafka again', async () => ((await healthStatus(processor)) === 200 ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    await new Promise((r) => setTimeout(r, 3_000));
  } finally {
    simulator.child.kill('SIGCONT');
  }

  assert.equal(await simulator.exited, 0, 'the simulator finished its run');
  const produced = simulatedTicks(simulator);
  assert.ok(produced > 10_000, `${produced} ticks`);
  await waitForGroupCaughtUp(`${ns.id}-candles`, ticksTopic, 120_000);
  await waitForGroupCaughtUp(`${ns.id}-questdb-sink`, ticksTopic, 120_000);
  for (const s of [processor, sink]) {
    assert.equal(s.child.exitCode, null, 'no service exited');
    await waitFor('healthy again', async () => ((await healthStatus(s)) === 200 ? true : undefined));
  }

  await assertPipelineExact(ns, ticksTopic, produced);
});
