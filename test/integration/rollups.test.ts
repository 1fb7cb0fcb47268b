import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { readTicks, simulate, sliceEnv, stopAll } from '../helpers/pipeline.js';
import { assertRollupsEqualTicks, expectedWindows, sendClosingTicks } from '../helpers/rollups.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { yesterdayAt } from '../helpers/time.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

test('ticks → 1 s candles → 1 m … 1 d roll-ups across midnight KST: one final per window, equal to the ticks; QuestDB tables too', async () => {
  const { common: base, ns, ticksTopic } = sliceEnv('rollups');
  const common = { ...base, ROLLUPS_APP_ID: `${ns.id}-rollups` };
  const SECONDS = 150;
  const RATE = 200;
  // Yesterday 14:58:30 UTC = 23:58:30 KST: the run crosses an hour and a KST day. Recent on purpose:
  // ticks older than the topic's 7-day retention can be deleted while the test runs.
  const start = yesterdayAt('14:58:30');

  // One after the other: services creating the same topics at the same moment trip over kafkajs's leader wait.
  const processor = startService('stream-processors/candles/main.js', common);
  running.push(processor);
  await processor.waitForLog(/candle processor running/);
  const rollups = startService('stream-processors/rollups/main.js', common);
  running.push(rollups);
  await rollups.waitForLog(/candle roll-ups running/);
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.candles.1m.v1,market.candles.1d.v1' });
  running.push(sink);
  await sink.waitForLog(/QuestDB sink running/);

  await simulate(common, { symbols: 30, ticksPerSecond: RATE, seconds: SECONDS, start: start.toISOString(), seed: 11 });
  const ticks = await readTicks(ticksTopic, SECONDS * RATE);

  // A trade a day later in every partition moves every partition's stream time past all these windows.
  const cutoff = await sendClosingTicks(ticksTopic, start.getTime() * 1000 + 26 * 3600 * 1_000_000, 3);
  assert.equal(new Set([...expectedWindows(ticks, '1d').keys()].map((k) => k.split('@')[1])).size, 2, 'the ticks span two KST days');
  await assertRollupsEqualTicks(ns, ticks, cutoff, ['1m', '1d']);
  assert.equal(rollups.child.exitCode, null);
});
