import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Partitioners } from 'kafkajs';
import { AvroSerde } from '../../lib/serde.js';
import { TickSchema } from '../../schemas/generated/schemas.js';
import type { Candle, Tick } from '../../schemas/generated/types.js';
import { ROLLUP_INTERVALS, rollupWindow } from '../../stream-processors/rollups/rollup.js';
import { expectedCandles } from '../helpers/candles.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import { readTicks, simulate, sliceEnv, stopAll } from '../helpers/pipeline.js';
import { isoToMicros, questdbQuery } from '../helpers/questdb.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

const PARTITIONS = 3;

function expectedWindows(ticks: readonly Tick[], interval: (typeof ROLLUP_INTERVALS)[number]) {
  const { sizeMicros, alignOffsetMicros } = rollupWindow(interval);
  return expectedCandles(ticks, sizeMicros, alignOffsetMicros);
}

/** One symbol per partition (kafkajs's default partitioner, as every producer of the project uses). */
function symbolPerPartition(topic: string): string[] {
  const partitioner = Partitioners.DefaultPartitioner();
  const out: string[] = [];
  for (let i = 0; out.filter(Boolean).length < PARTITIONS; i++) {
    const key = `9${String(i).padStart(5, '0')}`;
    const p = partitioner({ topic, partitionMetadata: Array.from({ length: PARTITIONS }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] })), message: { key, value: null } });
    out[p] ??= key;
  }
  return out;
}

test('ticks → 1 s candles → 1 m … 1 d roll-ups across midnight KST: one final per window, equal to the ticks; QuestDB tables too', async () => {
  const { common: base, ns, ticksTopic } = sliceEnv('rollups');
  const common = { ...base, ROLLUPS_APP_ID: `${ns.id}-rollups` };
  const SECONDS = 150;
  const RATE = 200;
  // Yesterday 14:58:30 UTC = 23:58:30 KST: the run crosses an hour and a KST day. Recent on purpose:
  // ticks older than the topic's 7-day retention can be deleted while the test runs.
  const start = new Date((Math.floor(Date.now() / 86_400_000) - 1) * 86_400_000 + (14 * 3600 + 58 * 60 + 30) * 1000);

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
  const serde = new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL);
  const writer = await serde.registerValueSchema<Tick>(ticksTopic, TickSchema);
  const later = start.getTime() * 1000 + 26 * 3600 * 1_000_000;
  // Windows starting before this are the simulated ones (the trades a day later open windows of their own).
  const cutoff = later - 3 * 3600 * 1_000_000;
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({
    topic: ticksTopic,
    messages: symbolPerPartition(ticksTopic).map((symbol, i) => ({
      key: symbol,
      value: writer.encode({ symbol, exchangeTime: later + i, ingestTime: later, price: 1000, quantity: 1, side: 'BUY', cumulativeVolume: 1, cumulativeValue: 1000, sequence: 1, source: 'SIMULATOR', sessionCode: '20', halted: false }),
    })),
  });
  await producer.disconnect();

  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const finalsOf = async (interval: string) => {
    const finals = new Map<string, Candle>();
    for (const m of await readTopic(`${ns.topicNamespace}market.candles.${interval}.v1`, { quietMs: 1_500 })) {
      const c = (await registry.decode(m.value as Buffer)) as Candle;
      if (!c.isFinal || c.windowStart >= cutoff) continue;
      const key = `${c.symbol}@${c.windowStart}`;
      assert.ok(!finals.has(key), `${interval}: a second final for ${key}`);
      finals.set(key, c);
    }
    return finals;
  };
  const expected1d = expectedWindows(ticks, '1d');
  assert.equal(new Set([...expected1d.keys()].map((k) => k.split('@')[1])).size, 2, 'the ticks span two KST days');
  await waitFor('every daily final', async () => ((await finalsOf('1d')).size === expected1d.size ? true : undefined), { timeoutMs: 120_000, intervalMs: 2_000 });

  for (const iv of ROLLUP_INTERVALS) {
    const expected = expectedWindows(ticks, iv);
    const finals = await finalsOf(iv);
    assert.equal(finals.size, expected.size, `${iv}: one final per window`);
    for (const [key, e] of expected) {
      const c = finals.get(key);
      assert.ok(c, `${iv}: missing ${key}`);
      assert.deepEqual({ symbol: c.symbol, windowStart: c.windowStart, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, tradedValue: c.tradedValue, tradeCount: c.tradeCount }, e, `${iv} ${key}`);
    }
  }

  // The sink's existing candle mappings carry the roll-ups: finals overwrite their in-progress rows.
  const expected1m = expectedWindows(ticks, '1m');
  for (const [iv, expected] of [['1m', expected1m], ['1d', expected1d]] as const) {
    const table = `${ns.tablePrefix}candles_${iv}`;
    const rows = await waitFor(`${table} complete`, async () => {
      const r = await questdbQuery(`select symbol, ts, volume, is_final from "${table}" where ts < '${new Date(cutoff / 1000).toISOString()}'`).catch(() => []);
      return r.length === expected.size && r.every((x) => x['is_final'] === true) ? r : undefined;
    }, { timeoutMs: 180_000, intervalMs: 1_000 });
    for (const r of rows) assert.equal(r['volume'], expected.get(`${r['symbol']}@${isoToMicros(r['ts'] as string)}`)?.volume, `${table} ${r['symbol']} ${r['ts']}`);
  }
  assert.equal(rollups.child.exitCode, null);
});
