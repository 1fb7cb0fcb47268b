import type { Sender } from '@questdb/nodejs-client';
import type avro from 'avsc';
import { CandleSchema, DailyBarSchema, TickSchema } from '../../schemas/generated/schemas.js';
import type { Candle, DailyBar, Tick } from '../../schemas/generated/types.js';
import { validateCandle, validateDailyBar, validateTick } from '../../schemas/validation.js';
import { KST_OFFSET_MICROS, MICROS_PER_SECOND } from '../../lib/time.js';
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
      ingest_time TIMESTAMP, ts TIMESTAMP
    ) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, symbol, seq)`,
    validate: validateTick,
    write: (s, t) =>
      s.table(table)
        .symbol('symbol', t.symbol)
        .symbol('side', t.side)
        .symbol('source', t.source)
        .symbol('session_code', t.sessionCode)
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

/**
 * KRX daily bars: one row per code and trading day, `ts` = midnight KST of the date (so KST
 * calendar weeks and months are SAMPLE BY ... TIME ZONE 'Asia/Seoul'). Yearly partitions: five
 * years of the whole market are 3.5 million rows, daily partitions would be 1,250 tiny ones.
 */
export function dailyBarTable(topic: TopicSpec, table: string): TableMapping<DailyBar> {
  return {
    topic,
    table,
    readerSchema: DailyBarSchema,
    ddl: `CREATE TABLE IF NOT EXISTS "${table}" (
      code SYMBOL CAPACITY 8192 CACHE, market SYMBOL, name VARCHAR, open LONG, high LONG, low LONG, close LONG,
      change LONG, change_rate DOUBLE, volume LONG, traded_value LONG, market_cap LONG, listed_shares LONG,
      source SYMBOL, ingest_time TIMESTAMP, ts TIMESTAMP
    ) TIMESTAMP(ts) PARTITION BY YEAR WAL DEDUP UPSERT KEYS(ts, code)`,
    validate: validateDailyBar,
    upsertKey: (b) => `${b.code}@${b.date}`,
    write: (s, b) =>
      s.table(table)
        .symbol('code', b.code)
        .symbol('market', b.market)
        .symbol('source', b.source)
        .stringColumn('name', b.name)
        .intColumn('open', b.open)
        .intColumn('high', b.high)
        .intColumn('low', b.low)
        .intColumn('close', b.close)
        .intColumn('change', b.change)
        .floatColumn('change_rate', b.changeRate)
        .intColumn('volume', b.volume)
        .intColumn('traded_value', b.tradedValue)
        .intColumn('market_cap', b.marketCap)
        .intColumn('listed_shares', b.listedShares)
        .timestampColumn('ingest_time', b.ingestTime, 'us')
        .at(b.date * 86_400 * MICROS_PER_SECOND - KST_OFFSET_MICROS, 'us'),
  };
}

/** The sink's catalogue: topic name → table, for every topic this sink can serve. */
export function questdbMappings(topics: TopicCatalogue, tablePrefix: string): Map<string, TableMapping<never>> {
  const all: TableMapping<never>[] = [
    tickTable(topics.ticks, `${tablePrefix}ticks`) as TableMapping<never>,
    ...CANDLE_INTERVALS.map((iv) => candleTable(topics.candles(iv), `${tablePrefix}candles_${iv}`) as TableMapping<never>),
    dailyBarTable(topics.krxDailyBars, `${tablePrefix}daily_bars`) as TableMapping<never>,
  ];
  return new Map(all.map((m) => [m.topic.name, m]));
}
