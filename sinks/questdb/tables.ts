import type { Sender } from '@questdb/nodejs-client';
import type avro from 'avsc';
import { CandleSchema, TickSchema } from '../../schemas/generated/schemas.js';
import type { Candle, Tick } from '../../schemas/generated/types.js';
import { validateCandle, validateTick } from '../../schemas/validation.js';
import { CANDLE_INTERVALS, type TopicCatalogue, type TopicSpec } from '../../lib/topics.js';

/**
 * How one topic lands in one QuestDB table. Every table has a designated timestamp `ts`, is
 * partitioned by day with WAL, and has DEDUP UPSERT KEYS so a replay or a retried batch overwrites
 * rows instead of duplicating them (and a candle's final version overwrites its in-progress ones).
 */
export interface TableMapping<T> {
  /** The input topic, created with the catalogue's settings if the sink starts before its producers. */
  topic: TopicSpec;
  table: string;
  readerSchema: avro.Schema;
  ddl: string;
  validate(record: T): T;
  /**
   * The table's DEDUP key of a record, for tables whose rows are overwritten by later versions
   * (candles): only the last version in one flush needs to be sent.
   */
  upsertKey?(record: T): string;
  /** Appends one row; the caller awaits `at` so the client can apply its own flush policy. */
  write(sender: Sender, record: T): Promise<void>;
}

export function tickTable(topic: TopicSpec, table: string): TableMapping<Tick> {
  return {
    topic,
    table,
    readerSchema: TickSchema,
    ddl: `CREATE TABLE IF NOT EXISTS "${table}" (
      symbol SYMBOL CAPACITY 4096 CACHE, price LONG, quantity LONG, side SYMBOL, cumulative_volume LONG,
      cumulative_value LONG, seq LONG, source SYMBOL, session_code SYMBOL, halted BOOLEAN,
      ingest_time TIMESTAMP, ts TIMESTAMP, venue SYMBOL
    ) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, symbol, seq, venue)`,
    validate: validateTick,
    write: (s, t) =>
      s.table(table)
        .symbol('symbol', t.symbol)
        .symbol('side', t.side)
        .symbol('source', t.source)
        .symbol('session_code', t.sessionCode)
        // KRX and NXT count volume apart: one symbol's trades on both can share a second and a seq.
        .symbol('venue', t.venue)
        .intColumn('price', t.price)
        .intColumn('quantity', t.quantity)
        .intColumn('cumulative_volume', t.cumulativeVolume)
        .intColumn('cumulative_value', t.cumulativeValue)
        .intColumn('seq', t.sequence)
        .booleanColumn('halted', t.halted)
        .timestampColumn('ingest_time', t.ingestTime, 'us')
        .at(t.exchangeTime, 'us'),
  };
}

export function candleTable(topic: TopicSpec, table: string): TableMapping<Candle> {
  return {
    topic,
    table,
    readerSchema: CandleSchema,
    // 1 s candles of the whole market are ≈ 2,880 rows a second: daily partitions stay small enough.
    ddl: `CREATE TABLE IF NOT EXISTS "${table}" (
      symbol SYMBOL CAPACITY 4096 CACHE, open LONG, high LONG, low LONG, close LONG, volume LONG,
      traded_value LONG, trade_count LONG, vwap DOUBLE, is_final BOOLEAN, window_end TIMESTAMP,
      emitted_at TIMESTAMP, ts TIMESTAMP
    ) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, symbol)`,
    validate: validateCandle,
    upsertKey: (c) => `${c.symbol}@${c.windowStart}`,
    write: (s, c) =>
      s.table(table)
        .symbol('symbol', c.symbol)
        .intColumn('open', c.open)
        .intColumn('high', c.high)
        .intColumn('low', c.low)
        .intColumn('close', c.close)
        .intColumn('volume', c.volume)
        .intColumn('traded_value', c.tradedValue)
        .intColumn('trade_count', c.tradeCount)
        .floatColumn('vwap', c.vwap)
        .booleanColumn('is_final', c.isFinal)
        .timestampColumn('window_end', c.windowEnd, 'us')
        .timestampColumn('emitted_at', c.emittedAt, 'us')
        .at(c.windowStart, 'us'),
  };
}

/** The sink's catalogue: topic name → table, for every topic this sink can serve. */
export function questdbMappings(topics: TopicCatalogue, tablePrefix: string): Map<string, TableMapping<never>> {
  const all: TableMapping<never>[] = [
    tickTable(topics.ticks, `${tablePrefix}ticks`) as TableMapping<never>,
    ...CANDLE_INTERVALS.map((iv) => candleTable(topics.candles(iv), `${tablePrefix}candles_${iv}`) as TableMapping<never>),
  ];
  return new Map(all.map((m) => [m.topic.name, m]));
}
