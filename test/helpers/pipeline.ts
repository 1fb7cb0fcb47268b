import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import assert from 'node:assert/strict';
import type { Tick } from '../../schemas/generated/types.js';
import { windowStartOf } from '../../lib/time.js';
import { expectedSecondCandles } from './candles.js';
import { isoToMicros, questdbQuery } from './questdb.js';
import { readTopic, readTopicRecords, testKafka } from './kafka.js';
import { startService, type RunningService } from './service-process.js';
import { freshNamespace, stackEnv } from './stack.js';
import { waitFor } from './wait.js';

/** Everything one slice test needs: its own topics, tables, groups, and the env to start services with. */
export function sliceEnv(name: string) {
  const ns = freshNamespace(name);
  const env = stackEnv();
  const common: Record<string, string> = {
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL,
    QUESTDB_HTTP_URL: env.QUESTDB_HTTP_URL,
    TOPIC_NAMESPACE: ns.topicNamespace,
    TOPIC_PARTITIONS: '3',
    QUESTDB_TABLE_PREFIX: ns.tablePrefix,
    CANDLES_APP_ID: `${ns.id}-candles`,
    ORDERBOOK_FEATURES_APP_ID: `${ns.id}-orderbook-features`,
    SINK_GROUP_ID: `${ns.id}-questdb-sink`,
  };
  return { ns, common, ticksTopic: `${ns.topicNamespace}market.ticks.v1`, candlesTopic: `${ns.topicNamespace}market.candles.1s.v1` };
}

/** Runs the simulator to completion over a historical interval, as fast as Kafka takes it. */
export async function simulate(common: Record<string, string>, opts: { symbols: number; ticksPerSecond: number; seconds: number; start: string; seed?: number; orderBooks?: boolean; session?: 'always' | 'krx' }): Promise<void> {
  const sim = startService('producers/simulator/main.js', {
    ...common,
    SIM_SYMBOLS: String(opts.symbols),
    SIM_TICKS_PER_SECOND: String(opts.ticksPerSecond),
    SIM_DURATION_SECONDS: String(opts.seconds),
    SIM_START: opts.start,
    SIM_SPEED: '0',
    SIM_SEED: String(opts.seed ?? 42),
    SIM_ORDERBOOKS: String(opts.orderBooks ?? false),
    SIM_SESSION: opts.session ?? 'always',
  });
  const code = await sim.exited;
  if (code !== 0) throw new Error(`simulator exited ${code}:\n${sim.output().slice(-3000)}`);
}

/** Decodes a topic with a plain registry client that knows nothing of this project. */
export async function readTicks(topic: string, count: number): Promise<Tick[]> {
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const messages = await readTopic(topic, { count });
  return Promise.all(messages.map((m) => registry.decode(m.value as Buffer) as Promise<Tick>));
}

/** Waits until a consumer group has committed the end offset of every partition of `topic`. */
export async function waitForGroupCaughtUp(groupId: string, topic: string, timeoutMs = 90_000): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await waitFor(`${groupId} to catch up on ${topic}`, async () => {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const done = ends.every((e) => committed?.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
      return done ? true : undefined;
    }, { timeoutMs, intervalMs: 500 });
  } finally {
    await admin.disconnect();
  }
}

export async function stopAll(...services: Array<RunningService | undefined>): Promise<void> {
  await Promise.all(services.map((s) => s?.stop()));
}

/**
 * After a live run of simulator → candle processor → QuestDB sink (faults or not), checks the data end
 * to end: every tick the simulator reported is in Kafka once (per symbol the sequences 1..n, no gap, no
 * repeat), a QuestDB row once, and the final 1 s candles equal the OHLCV computed from those rows.
 * The sink and processor groups must have caught up on the ticks topic before.
 */
export async function assertPipelineExact(ns: { tablePrefix: string }, ticksTopic: string, produced: number): Promise<void> {
  const ticks = await readTicks(ticksTopic, produced);
  assert.equal((await readTopic(ticksTopic, { quietMs: 2_000 })).length, produced, 'no tick written twice to Kafka');
  const seqs = new Map<string, number[]>();
  for (const tk of ticks) seqs.set(tk.symbol, [...(seqs.get(tk.symbol) ?? []), tk.sequence]);
  for (const [symbol, s] of seqs) assert.deepEqual([...s].sort((a, b) => a - b), s.map((_, i) => i + 1), `${symbol}: every sequence once`);

  const ticksTable = `${ns.tablePrefix}ticks`;
  const candlesTable = `${ns.tablePrefix}candles_1s`;
  await waitFor('WAL applied', async () => {
    const [pending] = await questdbQuery(`select sum(case when writerTxn < sequencerTxn then 1 else 0 end) lagging from wal_tables() where name in ('${candlesTable}', '${ticksTable}')`);
    return pending?.['lagging'] === 0 ? true : undefined;
  });
  const rows = await questdbQuery(`select symbol, ts, seq, price, quantity from "${ticksTable}"`);
  assert.equal(rows.length, produced, 'every tick is a row, once');
  const fromRows = expectedSecondCandles(rows.map((r) => ({
    symbol: r['symbol'] as string, exchangeTime: isoToMicros(r['ts'] as string), sequence: Number(r['seq']), price: Number(r['price']), quantity: Number(r['quantity']),
  }) as Tick));
  // The candles topic is transactional (its logs end with commit markers a consumer never commits
  // past), so the sink's progress on it shows in the table: at least as many finals as expected
  // (never wait for equality: an overshoot would hang), then exactly those.
  await waitFor('every final candle in QuestDB', async () => {
    const [r] = await questdbQuery(`select count() n from "${candlesTable}" where is_final`);
    return Number(r?.['n']) >= fromRows.size ? true : undefined;
  }, { timeoutMs: 120_000 }).catch(async (err: Error) => {
    // The diagnosis reads Kafka and QuestDB again; if that fails too, the timeout still says what failed.
    const diagnosis = await finalsDiagnosis(candlesTable, ticksTopic, fromRows).catch((e: Error) => `(no diagnosis: ${e.message})`);
    throw new Error(`${err.message}\n${diagnosis}`);
  });
  const finals = await questdbQuery(`select symbol, ts, open, high, low, close, volume, trade_count from "${candlesTable}" where is_final`);
  assert.equal(finals.length, fromRows.size, 'one final candle per symbol and second');
  for (const r of finals) {
    const key = `${r['symbol']}@${isoToMicros(r['ts'] as string)}`;
    const e = fromRows.get(key);
    assert.ok(e, `unexpected candle ${key}`);
    assert.deepEqual(
      { open: r['open'], high: r['high'], low: r['low'], close: r['close'], volume: r['volume'], tradeCount: r['trade_count'] },
      { open: e.open, high: e.high, low: e.low, close: e.close, volume: e.volume, tradeCount: e.tradeCount },
      key,
    );
  }
}

/**
 * Where the missing finals are, for the failure message: not emitted (absent from the committed
 * candles topic), or emitted and then not written, or written and overwritten by an older version.
 */
async function finalsDiagnosis(candlesTable: string, ticksTopic: string, expected: ReadonlyMap<string, unknown>): Promise<string> {
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const topicFinals = new Set<string>();
  const topicVersions = new Set<string>();
  const candlesTopic = ticksTopic.replace(/market\.ticks\.v1$/, 'market.candles.1s.v1');
  for (const m of await readTopic(candlesTopic, { quietMs: 3_000 })) {
    const c = (await registry.decode(m.value as Buffer)) as { symbol: string; windowStart: number; isFinal: boolean };
    topicVersions.add(`${c.symbol}@${c.windowStart}`);
    if (c.isFinal) topicFinals.add(`${c.symbol}@${c.windowStart}`);
  }
  // Ticks the processor found late (their window already closed): a stalled producer's held records
  // arriving after stream time moved on, rather than a final lost in a transaction.
  const lateWindows = new Map<string, number>();
  const lateTopic = ticksTopic.replace(/market\.ticks\.v1$/, 'market.late-ticks.v1');
  for (const { partition, message } of await readTopicRecords(lateTopic, { quietMs: 2_000 })) {
    const tk = (await registry.decode(message.value as Buffer)) as Tick;
    const key = `${tk.symbol}@${windowStartOf(tk.exchangeTime, 1_000_000)}`;
    lateWindows.set(key, partition);
  }
  const rows = await questdbQuery(`select symbol, ts, is_final, emitted_at from "${candlesTable}"`);
  const row = new Map(rows.map((r) => [`${r['symbol']}@${isoToMicros(r['ts'] as string)}`, r]));
  const missing = [...expected.keys()].filter((k) => row.get(k)?.['is_final'] !== true);
  const notEmitted = missing.filter((k) => !topicFinals.has(k));
  const late = notEmitted.filter((k) => lateWindows.has(k));
  const progressOnly = notEmitted.filter((k) => topicVersions.has(k));
  const notWritten = missing.filter((k) => topicFinals.has(k) && !row.has(k));
  const overwritten = missing.filter((k) => topicFinals.has(k) && row.has(k));
  const show = (ks: string[]) => ks.slice(0, 5).map((k) => `${k} (${new Date(Number(k.split('@')[1]) / 1000).toISOString()}${row.get(k) ? `, row emitted ${String(row.get(k)?.['emitted_at'])}` : ''})`).join(', ');
  return `expected ${expected.size} finals; in the committed candles topic ${topicFinals.size}; final in QuestDB ${expected.size - missing.length}. ` +
    `Missing ${missing.length}: not in the topic ${notEmitted.length} [${show(notEmitted)}]; in the topic, no row ${notWritten.length} [${show(notWritten)}]; ` +
    `in the topic, row not final ${overwritten.length} [${show(overwritten)}]. Of those not in the topic: ${late.length} have ticks in the late topic ` +
    `(${lateWindows.size} windows there in all, input partitions ${[...new Set(late.map((k) => lateWindows.get(k)))].join(', ') || '-'}), ` +
    `${progressOnly.length} have in-progress versions but no final [${show(progressOnly)}]`;
}

/** The number of ticks a finished simulator reports in its last line. */
export function simulatedTicks(simulator: RunningService): number {
  return Number(/"ticks":(\d+),[^\n]*"msg":"simulation finished"/.exec(simulator.output())?.[1]);
}

export interface LivePipeline {
  processor: RunningService;
  sink: RunningService;
  simulator: RunningService;
}

/**
 * Starts the candle processor and the QuestDB sink, then a simulator in real time (so a fault the
 * test injects falls in the middle of the trading), and returns once its ticks reach QuestDB.
 */
export async function startLivePipeline(common: Record<string, string>, ns: { tablePrefix: string }, running: RunningService[], sim: { symbols: number; ticksPerSecond: number; seconds: number; seed: number }): Promise<LivePipeline> {
  const processor = startService('stream-processors/candles/main.js', common);
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.ticks.v1,market.candles.1s.v1' });
  running.push(processor, sink);
  await processor.waitForLog(/candle processor running/);
  await sink.waitForLog(/QuestDB sink running/);
  const simulator = startService('producers/simulator/main.js', {
    ...common,
    SIM_SYMBOLS: String(sim.symbols),
    SIM_TICKS_PER_SECOND: String(sim.ticksPerSecond),
    SIM_SPEED: '1',
    SIM_DURATION_SECONDS: String(sim.seconds),
    SIM_SEED: String(sim.seed),
  });
  running.push(simulator);
  await waitFor('ticks flowing into QuestDB', async () => {
    const [r] = await questdbQuery(`select count() n from "${ns.tablePrefix}ticks"`).catch(() => [undefined]);
    return Number(r?.['n'] ?? 0) > sim.ticksPerSecond * 4 ? true : undefined;
  }, { timeoutMs: 60_000 });
  return { processor, sink, simulator };
}

/** The status /health answers with (undefined while it cannot be reached). */
export async function healthStatus(s: RunningService): Promise<number | undefined> {
  return (await fetch(`http://127.0.0.1:${await s.metricsPort()}/health`).catch(() => null))?.status;
}
