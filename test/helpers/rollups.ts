import assert from 'node:assert/strict';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Partitioners } from 'kafkajs';
import { AvroSerde } from '../../lib/serde.js';
import { TickSchema } from '../../schemas/generated/schemas.js';
import type { Candle, Tick } from '../../schemas/generated/types.js';
import { ROLLUP_INTERVALS, rollupWindow, type RollupInterval } from '../../stream-processors/rollups/rollup.js';
import { expectedCandles, expectedWindowSessions } from './candles.js';
import { readTopic, testKafka } from './kafka.js';
import { isoToMicros, questdbQuery } from './questdb.js';
import { stackEnv } from './stack.js';
import { waitFor } from './wait.js';

const HOUR = 3600 * 1_000_000;

export function expectedWindows(ticks: readonly Tick[], interval: RollupInterval) {
  const { sizeMicros, alignOffsetMicros } = rollupWindow(interval);
  return expectedCandles(ticks, sizeMicros, alignOffsetMicros);
}

/** One symbol per partition of `topic` (kafkajs's default partitioner, as every producer of the project uses). */
function symbolPerPartition(topic: string, partitions: number): string[] {
  const partitioner = Partitioners.DefaultPartitioner();
  const metadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
  const out: string[] = [];
  for (let i = 0; out.filter(Boolean).length < partitions; i++) {
    const key = `9${String(i).padStart(5, '0')}`;
    out[partitioner({ topic, partitionMetadata: metadata, message: { key, value: null } })] ??= key;
  }
  return out;
}

/**
 * A trade at `at` in every partition, which moves every partition's stream time past all earlier
 * windows (days included). Returns the cutoff: windows starting before it are the earlier ones.
 */
export async function sendClosingTicks(ticksTopic: string, at: number, partitions: number): Promise<number> {
  // Candles of a future trade are stamped in the future, and the broker refuses them over an hour ahead.
  assert.ok(at <= Date.now() * 1000, `closing ticks at ${new Date(at / 1000).toISOString()} are in the future: start the run earlier (daysAgoAt)`);
  const serde = new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL);
  const writer = await serde.registerValueSchema<Tick>(ticksTopic, TickSchema);
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({
    topic: ticksTopic,
    messages: symbolPerPartition(ticksTopic, partitions).map((symbol, i) => ({
      key: symbol,
      value: writer.encode({ symbol, exchangeTime: at + i, ingestTime: at, price: 1000, quantity: 1, side: 'BUY', cumulativeVolume: 1, cumulativeValue: 1000, sequence: 1, source: 'SIMULATOR', sessionCode: '20', halted: false, venue: 'KRX', marketSession: 'REGULAR' }),
    })),
  });
  await producer.disconnect();
  return at - 3 * HOUR;
}

/** Final candles of a topic with windows before `cutoff`, by symbol@windowStart; a second final of one window fails. */
export async function readFinals(topic: string, cutoff: number): Promise<Map<string, Candle>> {
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const finals = new Map<string, Candle>();
  for (const m of await readTopic(topic, { quietMs: 1_500 })) {
    const c = (await registry.decode(m.value as Buffer)) as Candle;
    if (!c.isFinal || c.windowStart >= cutoff) continue;
    const key = `${c.symbol}@${c.windowStart}`;
    assert.ok(!finals.has(key), `${topic}: a second final for ${key}`);
    finals.set(key, c);
  }
  return finals;
}

/**
 * Waits for every daily final, then checks every roll-up topic against the ticks (one final per
 * window, equal OHLCV) and the QuestDB tables of `tables` (every row final, equal volume).
 */
export async function assertRollupsEqualTicks(ns: { topicNamespace: string; tablePrefix: string }, ticks: readonly Tick[], cutoff: number, tables: readonly RollupInterval[]): Promise<void> {
  const topic = (iv: RollupInterval) => `${ns.topicNamespace}market.candles.${iv}.v1`;
  const expected1d = expectedWindows(ticks, '1d');
  await waitFor('every daily final', async () => ((await readFinals(topic('1d'), cutoff)).size === expected1d.size ? true : undefined), { timeoutMs: 120_000, intervalMs: 2_000 });
  for (const iv of ROLLUP_INTERVALS) {
    const expected = expectedWindows(ticks, iv);
    const { sizeMicros, alignOffsetMicros } = rollupWindow(iv);
    const sessions = expectedWindowSessions(ticks, sizeMicros, alignOffsetMicros);
    const finals = await readFinals(topic(iv), cutoff);
    assert.equal(finals.size, expected.size, `${iv}: one final per window`);
    for (const [key, e] of expected) {
      const c = finals.get(key);
      assert.ok(c, `${iv}: missing ${key}`);
      assert.deepEqual({ symbol: c.symbol, windowStart: c.windowStart, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, tradedValue: c.tradedValue, tradeCount: c.tradeCount }, e, `${iv} ${key}`);
      const { marketSession, regularOpen, regularHigh, regularLow, regularClose, regularVolume, regularTradedValue, regularTradeCount } = c;
      assert.deepEqual({ marketSession, regularOpen, regularHigh, regularLow, regularClose, regularVolume, regularTradedValue, regularTradeCount }, sessions.get(key), `${iv} ${key}: session`);
    }
  }
  // The sink's candle mappings carry the roll-ups: finals overwrite their in-progress rows.
  for (const iv of tables) {
    const expected = expectedWindows(ticks, iv);
    const table = `${ns.tablePrefix}candles_${iv}`;
    const rows = await waitFor(`${table} complete`, async () => {
      const r = await questdbQuery(`select symbol, ts, volume, is_final, market_session, regular_volume from "${table}" where ts < '${new Date(cutoff / 1000).toISOString()}'`).catch(() => []);
      return r.length === expected.size && r.every((x) => x['is_final'] === true) ? r : undefined;
    }, { timeoutMs: 180_000, intervalMs: 1_000 });
    const { sizeMicros, alignOffsetMicros } = rollupWindow(iv);
    const sessions = expectedWindowSessions(ticks, sizeMicros, alignOffsetMicros);
    for (const r of rows) {
      const key = `${r['symbol']}@${isoToMicros(r['ts'] as string)}`;
      assert.equal(r['volume'], expected.get(key)?.volume, `${table} ${r['symbol']} ${r['ts']}`);
      assert.deepEqual([r['market_session'], r['regular_volume']], [sessions.get(key)?.marketSession, sessions.get(key)?.regularVolume], `${table} ${key}: session`);
    }
  }
}
