import avro from 'avsc';
import { CandleSchema, DailyBarSchema, FeaturesSchema, IndicatorsSchema, OrderBookFeaturesSchema, OrderBookSchema, TickSchema } from '../../schemas/generated/schemas.js';
import type { Candle, DailyBar, Features, Indicators, OrderBook, OrderBookFeatures, Tick } from '../../schemas/generated/types.js';
import { validateCandle, validateDailyBar, validateOrderBook, validateTick } from '../../schemas/validation.js';
import { KST_OFFSET_MICROS, MICROS_PER_SECOND } from '../../lib/time.js';
import { CANDLE_INTERVALS, type CandleInterval, type TopicCatalogue, type TopicSpec } from '../../lib/topics.js';
import { boolean, double, IlpTableEncoder, long, symbol, timestamp, varchar, type Column } from './ilp.js';

/**
 * Every QuestDB table the sink writes, one entry per table, and nothing else to touch.
 *
 * To add a table (candles of another interval, indicators, features, daily bars…):
 *   1. write a `TableSpec` below with `defineTable<YourRecord>({...})`: the topic it reads (from lib/topics.ts), the Avro reader schema, an
 *      optional validation (schemas/validation.ts), the designated timestamp, the columns in table
 *      order with `symbol`/`long`/`double`/`boolean`/`timestamp`/`varchar` from ./ilp.ts, and the DEDUP
 *      keys (the row's identity besides `ts`; a replay then overwrites instead of duplicating);
 *   2. add it to `TABLES`;
 *   3. add the topic's catalogue name to SINK_TOPICS where the sink should write it.
 * The CREATE TABLE statement is generated from the spec (WAL, PARTITION BY DAY unless `partitionBy`
 * says otherwise, DEDUP UPSERT KEYS(ts, …dedupKeys)); the ILP rows are encoded by ./ilp.ts, checked
 * byte for byte against the official client for every table in test/unit/sinks/questdb/tables.test.ts.
 * A value a column cannot hold (undefined or null) leaves the column out: NULL in QuestDB.
 */
export interface TableSpec<T> {
  /** Table name, without QUESTDB_TABLE_PREFIX. */
  table: string;
  topic(topics: TopicCatalogue): TopicSpec;
  readerSchema: avro.Schema;
  /** Record invariants; a record that breaks one is dead-lettered (VALIDATION_FAILED). */
  validate?(record: T): T;
  /** The designated timestamp `ts`, epoch microseconds. */
  ts(record: T): number;
  /** In table order (symbols are written first on the wire regardless). */
  columns: Column<T>[];
  /** DEDUP UPSERT KEYS besides `ts`. */
  dedupKeys: string[];
  /**
   * For tables whose rows are overwritten by later versions (candles): the DEDUP key of a record, so
   * only the last version per key in one flush is sent. The last version wins: a final candle
   * overwrites its in-progress versions.
   */
  upsertKey?(record: T): string;
  partitionBy?: 'HOUR' | 'DAY' | 'MONTH' | 'YEAR';
  /**
   * For tables no panel watches by the second (history): while the sink's buffer holds only rows of
   * tables this patient, it flushes at most this often instead of every SINK_FLUSH_INTERVAL_MS. QuestDB
   * pays per commit: a DEDUP table took about 40 µs of its CPU per row in 3,000-row commits and about
   * 10 µs in 20,000-row ones (measured on this machine). A row of a more impatient table in the same
   * buffer flushes it sooner, so patience never delays a live panel.
   */
  minFlushIntervalMs?: number;
}

/** Types one entry and erases its record type, so entries of different records share one list. */
export function defineTable<T>(spec: TableSpec<T>): TableSpec<unknown> {
  return spec as unknown as TableSpec<unknown>;
}

const tick = defineTable<Tick>({
  table: 'ticks',
  topic: (t) => t.ticks,
  readerSchema: TickSchema,
  validate: validateTick,
  ts: (t) => t.exchangeTime,
  columns: [
    symbol('symbol', (t) => t.symbol, 'SYMBOL CAPACITY 4096 CACHE'),
    long('price', (t) => t.price),
    long('quantity', (t) => t.quantity),
    symbol('side', (t) => t.side),
    long('cumulative_volume', (t) => t.cumulativeVolume),
    long('cumulative_value', (t) => t.cumulativeValue),
    long('seq', (t) => t.sequence),
    symbol('source', (t) => t.source),
    symbol('session_code', (t) => t.sessionCode),
    boolean('halted', (t) => t.halted),
    timestamp('ingest_time', (t) => t.ingestTime),
    // KRX and NXT count volume apart: one symbol's trades on both can share a second and a seq.
    symbol('venue', (t) => t.venue),
    symbol('market_session', (t) => t.marketSession),
  ],
  dedupKeys: ['symbol', 'seq', 'venue'],
});

/** 1 s candles of the whole market are ≈ 2,880 rows a second: daily partitions stay small enough. */
const candles = (interval: CandleInterval) => defineTable<Candle>({
  table: `candles_${interval}`,
  topic: (t) => t.candles(interval),
  readerSchema: CandleSchema,
  validate: validateCandle,
  ts: (c) => c.windowStart,
  columns: [
    symbol('symbol', (c) => c.symbol, 'SYMBOL CAPACITY 4096 CACHE'),
    long('open', (c) => c.open),
    long('high', (c) => c.high),
    long('low', (c) => c.low),
    long('close', (c) => c.close),
    long('volume', (c) => c.volume),
    long('traded_value', (c) => c.tradedValue),
    long('trade_count', (c) => c.tradeCount),
    double('vwap', (c) => c.vwap),
    boolean('is_final', (c) => c.isFinal),
    timestamp('window_end', (c) => c.windowEnd),
    timestamp('emitted_at', (c) => c.emittedAt),
    // The session of the window's trades, or MIXED; a MIXED window's regular-session OHLCV (else NULL).
    symbol('market_session', (c) => c.marketSession),
    long('regular_open', (c) => c.regularOpen),
    long('regular_high', (c) => c.regularHigh),
    long('regular_low', (c) => c.regularLow),
    long('regular_close', (c) => c.regularClose),
    long('regular_volume', (c) => c.regularVolume),
    long('regular_traded_value', (c) => c.regularTradedValue),
    long('regular_trade_count', (c) => c.regularTradeCount),
  ],
  dedupKeys: ['symbol'],
  upsertKey: (c) => `${c.symbol}@${c.windowStart}`,
});

export const BOOK_LEVELS = 10;
const levels = (side: 'ask' | 'bid', prices: (b: OrderBook) => number[], quantities: (b: OrderBook) => number[]): Column<OrderBook>[] =>
  Array.from({ length: BOOK_LEVELS }, (_, i) => [
    long<OrderBook>(`${side}_price_${i + 1}`, (b) => prices(b)[i]),
    long<OrderBook>(`${side}_qty_${i + 1}`, (b) => quantities(b)[i]),
  ]).flat();

/**
 * Order books flattened: level 1 is the best price on each side; a level the record does not have
 * is NULL. Prices beyond the daily limits are 0 in the record, and stay 0 (no orders possible there).
 */
const orderbook = defineTable<OrderBook>({
  table: 'orderbook',
  topic: (t) => t.orderbook,
  readerSchema: OrderBookSchema,
  validate: validateOrderBook,
  ts: (b) => b.exchangeTime,
  columns: [
    symbol('symbol', (b) => b.symbol, 'SYMBOL CAPACITY 4096 CACHE'),
    ...levels('ask', (b) => b.askPrices, (b) => b.askQuantities),
    ...levels('bid', (b) => b.bidPrices, (b) => b.bidQuantities),
    long('total_ask_qty', (b) => b.totalAskQuantity),
    long('total_bid_qty', (b) => b.totalBidQuantity),
    long('expected_price', (b) => b.expectedPrice),
    long('expected_qty', (b) => b.expectedQuantity),
    long('cumulative_volume', (b) => b.cumulativeVolume),
    symbol('hour_class_code', (b) => b.hourClassCode),
    long('seq', (b) => b.sequence),
    symbol('source', (b) => b.source),
    timestamp('ingest_time', (b) => b.ingestTime),
    symbol('venue', (b) => b.venue),
    symbol('market_session', (b) => b.marketSession),
  ],
  dedupKeys: ['symbol', 'seq', 'venue'],
});

/**
 * Order-book features, one row per book, with the book's identity (ts, symbol, seq, venue) as in
 * `orderbook`, so a replay overwrites and a row joins its book. Undefined features are NULL.
 */
const orderbookFeatures = defineTable<OrderBookFeatures>({
  table: 'orderbook_features',
  topic: (t) => t.orderbookFeatures,
  readerSchema: OrderBookFeaturesSchema,
  ts: (f) => f.exchangeTime,
  columns: [
    symbol('symbol', (f) => f.symbol, 'SYMBOL CAPACITY 4096 CACHE'),
    symbol('book_state', (f) => f.bookState),
    long('best_bid', (f) => f.bestBid),
    long('best_ask', (f) => f.bestAsk),
    long('spread', (f) => f.spread),
    double('mid', (f) => f.mid),
    double('microprice', (f) => f.microprice),
    double('imbalance_1', (f) => f.imbalance1),
    double('imbalance_5', (f) => f.imbalance5),
    double('imbalance_10', (f) => f.imbalance10),
    long('bid_depth_1', (f) => f.bidDepth1),
    long('bid_depth_5', (f) => f.bidDepth5),
    long('bid_depth_10', (f) => f.bidDepth10),
    long('ask_depth_1', (f) => f.askDepth1),
    long('ask_depth_5', (f) => f.askDepth5),
    long('ask_depth_10', (f) => f.askDepth10),
    long('total_bid_qty', (f) => f.totalBidQuantity),
    long('total_ask_qty', (f) => f.totalAskQuantity),
    long('seq', (f) => f.sequence),
    symbol('venue', (f) => f.venue),
    symbol('market_session', (f) => f.marketSession),
  ],
  dedupKeys: ['symbol', 'seq', 'venue'],
});

/** Indicator columns (DOUBLE, NULL until an indicator's warm-up): record field → column. */
const INDICATOR_COLUMNS = [
  ['sma5', 'sma5'], ['sma20', 'sma20'], ['sma60', 'sma60'], ['sma120', 'sma120'], ['sma200', 'sma200'],
  ['ema12', 'ema12'], ['ema26', 'ema26'], ['rsi14', 'rsi14'], ['macd', 'macd'], ['macdSignal', 'macd_signal'],
  ['macdHist', 'macd_hist'], ['bbUpper', 'bb_upper'], ['bbMiddle', 'bb_middle'], ['bbLower', 'bb_lower'],
  ['stochK', 'stoch_k'], ['stochD', 'stoch_d'], ['atr14', 'atr14'], ['vwap', 'vwap'], ['volumeSma20', 'volume_sma20'],
] as const satisfies ReadonlyArray<readonly [keyof Indicators, string]>;

/** Indicators per symbol and bar; a provisional set (is_final false) is overwritten by the final one. */
const indicators = (interval: CandleInterval) => defineTable<Indicators>({
  table: `indicators_${interval}`,
  topic: (t) => t.indicators(interval),
  readerSchema: IndicatorsSchema,
  ts: (r) => r.windowStart,
  columns: [
    symbol('symbol', (r) => r.symbol, 'SYMBOL CAPACITY 4096 CACHE'),
    long('close', (r) => r.close),
    boolean('is_final', (r) => r.isFinal),
    ...INDICATOR_COLUMNS.map(([field, col]) => double<Indicators>(col, (r) => r[field])),
    timestamp('window_end', (r) => r.windowEnd),
    timestamp('emitted_at', (r) => r.emittedAt),
  ],
  dedupKeys: ['symbol'],
  upsertKey: (r) => `${r.symbol}@${r.windowStart}`,
});

/** Model features per symbol and bar (NULL before a feature's warm-up); the final set overwrites the provisional ones. */
const features = (interval: CandleInterval) => defineTable<Features>({
  table: `features_${interval}`,
  topic: (t) => t.features(interval),
  readerSchema: FeaturesSchema,
  ts: (r) => r.windowStart,
  columns: [
    symbol('symbol', (r) => r.symbol, 'SYMBOL CAPACITY 4096 CACHE'),
    long('close', (r) => r.close),
    long('volume', (r) => r.volume),
    boolean('is_final', (r) => r.isFinal),
    long('change', (r) => r.change),
    double('change_pct', (r) => r.changePct),
    double('volume_ratio', (r) => r.volumeRatio),
    double('volatility20', (r) => r.volatility20),
    double('bollinger_position', (r) => r.bollingerPosition),
    timestamp('window_end', (r) => r.windowEnd),
    timestamp('emitted_at', (r) => r.emittedAt),
  ],
  dedupKeys: ['symbol'],
  upsertKey: (r) => `${r.symbol}@${r.windowStart}`,
});

/**
 * KRX daily bars: one row per code and trading day, `ts` = midnight KST of the date (so KST calendar
 * weeks and months are SAMPLE BY … TIME ZONE 'Asia/Seoul'). Yearly partitions: five years of the whole
 * market are 3.5 million rows, daily partitions would be 1,250 tiny ones.
 */
const dailyBars = defineTable<DailyBar>({
  table: 'daily_bars',
  topic: (t) => t.krxDailyBars,
  readerSchema: DailyBarSchema,
  validate: validateDailyBar,
  ts: (b) => b.date * 86_400 * MICROS_PER_SECOND - KST_OFFSET_MICROS,
  columns: [
    symbol('code', (b) => b.code, 'SYMBOL CAPACITY 8192 CACHE'),
    symbol('market', (b) => b.market),
    varchar('name', (b) => b.name),
    long('open', (b) => b.open),
    long('high', (b) => b.high),
    long('low', (b) => b.low),
    long('close', (b) => b.close),
    long('change', (b) => b.change),
    double('change_rate', (b) => b.changeRate),
    long('volume', (b) => b.volume),
    long('traded_value', (b) => b.tradedValue),
    long('market_cap', (b) => b.marketCap),
    long('listed_shares', (b) => b.listedShares),
    symbol('source', (b) => b.source),
    timestamp('ingest_time', (b) => b.ingestTime),
  ],
  dedupKeys: ['code'],
  upsertKey: (b) => `${b.code}@${b.date}`,
  partitionBy: 'YEAR',
  // A backfill streams 20,000 bars a second for minutes; nobody needs a daily bar within 50 ms.
  minFlushIntervalMs: 1_000,
});

export const TABLES: ReadonlyArray<TableSpec<unknown>> = [
  tick,
  ...CANDLE_INTERVALS.map(candles),
  ...CANDLE_INTERVALS.map(indicators),
  ...CANDLE_INTERVALS.map(features),
  orderbook,
  orderbookFeatures,
  dailyBars,
];

const DDL_TYPES = { symbol: 'SYMBOL', long: 'LONG', double: 'DOUBLE', boolean: 'BOOLEAN', timestamp: 'TIMESTAMP', varchar: 'VARCHAR' } as const;

export function createTableSql(spec: TableSpec<unknown>, table: string): string {
  const columns = spec.columns.map((c) => `${c.name} ${c.type ?? DDL_TYPES[c.kind]}`);
  return `CREATE TABLE IF NOT EXISTS "${table}" (${[...columns, 'ts TIMESTAMP'].join(', ')}) ` +
    `TIMESTAMP(ts) PARTITION BY ${spec.partitionBy ?? 'DAY'} WAL DEDUP UPSERT KEYS(${['ts', ...spec.dedupKeys].join(', ')})`;
}

/**
 * The columns a table created by an older version lacks, as ALTER statements: ILP would add a column
 * only with the first row that has a value, and a panel reading a column that is still NULL
 * everywhere (a candle's regular part, say) must not fail with "Invalid column" meanwhile.
 */
export function addMissingColumnsSql(spec: TableSpec<unknown>, table: string, existing: readonly string[]): string[] {
  const have = new Set(existing.map((c) => c.toLowerCase()));
  return spec.columns.filter((c) => !have.has(c.name.toLowerCase())).map((c) => `ALTER TABLE "${table}" ADD COLUMN ${c.name} ${c.type ?? DDL_TYPES[c.kind]}`);
}

/** One table of the running sink: its spec resolved against the topic namespace and table prefix. */
export interface TableMapping<T> {
  spec: TableSpec<T>;
  topic: TopicSpec;
  table: string;
  ddl: string;
  reader: avro.Type;
  encoder: IlpTableEncoder<T>;
}

/** The sink's catalogue: topic name → table, for every topic this sink can serve. */
export function questdbMappings(topics: TopicCatalogue, tablePrefix: string, tables: ReadonlyArray<TableSpec<unknown>> = TABLES): Map<string, TableMapping<unknown>> {
  const out = new Map<string, TableMapping<unknown>>();
  for (const spec of tables) {
    const table = `${tablePrefix}${spec.table}`;
    const topic = spec.topic(topics);
    if (out.has(topic.name)) throw new Error(`two tables read ${topic.name}`);
    out.set(topic.name, { spec, topic, table, ddl: createTableSql(spec, table), reader: avro.Type.forSchema(spec.readerSchema), encoder: new IlpTableEncoder(table, spec.columns, spec.ts) });
  }
  return out;
}
