import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { testKafka } from '../helpers/kafka.js';
import { readTicks, sliceEnv, stopAll } from '../helpers/pipeline.js';
import { assertRollupsEqualTicks, sendClosingTicks } from '../helpers/rollups.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';
import { daysAgoAt } from '../helpers/time.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

const partitionsOf = async (svc: RunningService): Promise<number[]> =>
  ((await fetch(`http://127.0.0.1:${await svc.metricsPort()}/health`).then((r) => r.json())) as { partitions?: number[] }).partitions ?? [];

test('two live roll-up instances share the partitions; one is killed mid-run; the survivor restores its stores and every final and QuestDB row ends right', async () => {
  const { common: base, ns, ticksTopic } = sliceEnv('twoinst');
  const common = { ...base, ROLLUPS_APP_ID: `${ns.id}-rollups`, CONSUMER_SESSION_TIMEOUT_MS: '6000' };
  const SECONDS = 240;
  const RATE = 150;
  const start = daysAgoAt(2, '14:58');

  const processor = startService('stream-processors/candles/main.js', common);
  running.push(processor);
  await processor.waitForLog(/candle processor running/);
  const a = startService('stream-processors/rollups/main.js', { ...common, INSTANCE_ID: 'a' });
  running.push(a);
  await a.waitForLog(/candle roll-ups running/);
  const b = startService('stream-processors/rollups/main.js', { ...common, INSTANCE_ID: 'b' });
  running.push(b);
  await b.waitForLog(/candle roll-ups running/);
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.candles.1m.v1' });
  running.push(sink);
  await sink.waitForLog(/QuestDB sink running/);
  await waitFor('both instances holding partitions', async () => ((await partitionsOf(a)).length > 0 && (await partitionsOf(b)).length > 0 ? true : undefined), { timeoutMs: 60_000 });

  // Ten exchange seconds per wall second: the feed lasts about 24 s, so the kill below leaves work.
  const sim = startService('producers/simulator/main.js', {
    ...common, SIM_SYMBOLS: '30', SIM_TICKS_PER_SECOND: String(RATE), SIM_DURATION_SECONDS: String(SECONDS), SIM_START: start.toISOString(), SIM_SPEED: '10', SIM_SEED: '21',
  });
  running.push(sim);
  const admin = testKafka().admin();
  await admin.connect();
  const minutesOut = async () => (await admin.fetchTopicOffsets(`${ns.topicNamespace}market.candles.1m.v1`).catch(() => [])).reduce((s, o) => s + Number(o.high), 0);
  await waitFor('roll-ups under way', async () => ((await minutesOut()) > 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
  const bHad = await partitionsOf(b);
  b.child.kill('SIGKILL');
  await b.exited;
  await waitFor('the survivor holding every partition', async () => ((await partitionsOf(a)).length === 3 ? true : undefined), { timeoutMs: 60_000 });
  await admin.disconnect();
  assert.ok(sim.child.exitCode === null, 'the feed was still running when the partitions moved');
  assert.equal(await sim.exited, 0);
  assert.ok(bHad.length > 0);

  const ticks = await readTicks(ticksTopic, Number(/"ticks":(\d+)/.exec(sim.output())?.[1]));
  const cutoff = await sendClosingTicks(ticksTopic, start.getTime() * 1000 + 26 * 3600 * 1_000_000, 3);
  await assertRollupsEqualTicks(ns, ticks, cutoff, ['1m']);
  assert.match(a.output(), /"partitions":\[[^\]]*\],"restoredRecords":[1-9]/, 'the survivor restored the moved stores from their changelogs');
  assert.equal(a.child.exitCode, null);
});
