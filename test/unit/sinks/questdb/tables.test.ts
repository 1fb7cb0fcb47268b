import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicCatalogue } from '../../../../lib/topics.js';
import type { Candle, DailyBar, Features, Indicators, OrderBook, OrderBookFeatures, Tick } from '../../../../schemas/generated/types.js';
import { IlpBuffer } from '../../../../sinks/questdb/ilp.js';
import { addMissingColumnsSql, BOOK_LEVELS, createTableSql, questdbMappings, TABLES } from '../../../../sinks/questdb/tables.js';
import { clientBuffer, clientRows } from './client-reference.js';
import { sessionFields } from '../../../../stream-processors/candles/sessions.js';

/** A small deterministic generator (mulberry32), so the records differ but every run is the same. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const T0 = 1_763_780_400_000_000;
const BIG = Number.MAX_SAFE_INTEGER;

function ticks(n: number): Tick[] {
  const r = rng(1);
  return Array.from({ length: n }, (_, i) => ({
    symbol: ['005930', '000660', 'A12345', '0000Z0'][i % 4] as string, exchangeTime: T0 + i * 997, ingestTime: T0 + i * 997 + Math.floor(r() * 5000),
    price: i === 3 ? BIG : 1 + Math.floor(r() * 2_000_000), quantity: 1 + Math.floor(r() * 1e6), side: (['BUY', 'SELL', 'AUCTION', 'UNKNOWN'] as const)[i % 4] ?? 'UNKNOWN',
    cumulativeVolume: i === 5 ? BIG : Math.floor(r() * 1e10), cumulativeValue: i === 6 ? 2 ** 63 - 1 /* as a double: 2^63 */ : Math.floor(r() * 1e15), sequence: i + 1,
    source: (['KIS', 'SIMULATOR', 'REPLAY'] as const)[i % 3] ?? 'KIS', sessionCode: i === 7 ? '' : ['20', '10', '3 ', 'x,y'][i % 4] as string, halted: i % 5 === 0,
    venue: (['KRX', 'NXT', 'INTEGRATED'] as const)[i % 3] ?? 'KRX', marketSession: (['UNKNOWN', 'PRE_MARKET', 'REGULAR', 'AFTER_MARKET', 'CLOSING_PRICE'] as const)[i % 5] ?? 'REGULAR',
  }));
}

function candles(n: number, interval: string): Candle[] {
  const r = rng(2);
  return Array.from({ length: n }, (_, i) => {
    const open = 1000 + Math.floor(r() * 1000);
    const volume = i === 2 ? 0 : 1 + Math.floor(r() * 1e5);
    return {
      symbol: ['005930', '000660'][i % 2] as string, interval, windowStart: T0 + i * 1_000_000, windowEnd: T0 + (i + 1) * 1_000_000, open, high: open + 50, low: open - 50, close: open + 10,
      volume, tradedValue: volume * open, tradeCount: 1 + (i % 9),
      vwap: [open, open + 0.5, 61_234.567_891_23, 0, -0, 1e300, NaN][i % 7] as number, isFinal: i % 3 === 0, emittedAt: T0 + i * 1_000_000 + 250_000,
      // Every session; MIXED ones with and without a regular part (null columns are left out of the line).
      ...sessionFields(i % 6 === 5
        ? { session: 'MIXED', regular: i % 12 === 5 ? null : { open, high: open + 40, low: open - 1, close: open + 3, volume: 2 ** 53 - 1, tradedValue: 0, tradeCount: 1, firstTime: 0, firstSequence: 0, lastTime: 0, lastSequence: 0 } }
        : { session: (['UNKNOWN', 'PRE_MARKET', 'REGULAR', 'AFTER_MARKET', 'CLOSING_PRICE'] as const)[i % 5] ?? 'REGULAR' }),
    };
  });
}

function books(n: number): OrderBook[] {
  const r = rng(3);
  return Array.from({ length: n }, (_, i) => {
    const levels = [BOOK_LEVELS, 0, 1, 7, BOOK_LEVELS][i % 5] as number; // fewer levels: the rest are NULL
    const side = (base: number, step: number) => Array.from({ length: levels }, (_, k) => (i === 4 && k === 9 ? 0 : base + step * k));
    const qty = () => Array.from({ length: levels }, () => Math.floor(r() * 1e6));
    return {
      symbol: '005930', exchangeTime: T0 + i, ingestTime: T0 + i + 100, askPrices: side(61_100, 100), askQuantities: qty(), bidPrices: side(61_000, -100), bidQuantities: qty(),
      totalAskQuantity: i === 1 ? BIG : 12345, totalBidQuantity: 0, expectedPrice: i % 2 ? 61_050 : 0, expectedQuantity: 10, cumulativeVolume: 99, hourClassCode: ['0', 'A', ''][i % 3] as string,
      sequence: i, source: 'SIMULATOR', venue: i % 2 ? 'NXT' : 'KRX', marketSession: 'REGULAR',
    };
  });
}

function indicators(n: number, interval: string): Indicators[] {
  const r = rng(4);
  // Before its warm-up an indicator is null: the column is left out of the row (NULL in QuestDB).
  const v = (i: number, warmUp: number) => (i < warmUp ? null : [r() * 100_000, 0, -0, 1e300, -12.5, 61_234.567_891_23][i % 6] as number);
  return Array.from({ length: n }, (_, i) => ({
    symbol: ['005930', '000660'][i % 2] as string, interval, windowStart: T0 + i * 60_000_000, windowEnd: T0 + (i + 1) * 60_000_000, close: i === 3 ? BIG : 61_000 + i, isFinal: i % 4 !== 1,
    sma5: v(i, 4), sma20: v(i, 19), sma60: v(i, 25), sma120: null, sma200: null, ema12: v(i, 11), ema26: v(i, 25), rsi14: v(i, 14), macd: v(i, 25), macdSignal: v(i, 33),
    macdHist: v(i, 33), bbUpper: v(i, 19), bbMiddle: v(i, 19), bbLower: v(i, 19), stochK: v(i, 15), stochD: v(i, 17), atr14: v(i, 14), vwap: v(i, 0), volumeSma20: v(i, 19),
    emittedAt: T0 + i * 60_000_000 + 250_000,
  }));
}

function features(n: number, interval: string): Features[] {
  const r = rng(6);
  const v = (i: number, warmUp: number) => (i < warmUp ? null : [r() * 10, 0, -0, 1e300, -0.012_5, 0.000_123_456_789][i % 6] as number);
  return Array.from({ length: n }, (_, i) => ({
    symbol: ['005930', '000660'][i % 2] as string, interval, windowStart: T0 + i * 60_000_000, windowEnd: T0 + (i + 1) * 60_000_000, close: i === 3 ? BIG : 61_000 + i,
    volume: i === 5 ? 0 : Math.floor(r() * 1e7), isFinal: i % 4 !== 1, change: i < 1 ? null : [-500, 0, 100, BIG][i % 4] as number, changePct: v(i, 1),
    volumeRatio: v(i, 19), volatility20: v(i, 20), bollingerPosition: v(i, 19), emittedAt: T0 + i * 60_000_000 + 250_000,
  }));
}

function bookFeatures(n: number): OrderBookFeatures[] {
  const r = rng(6);
  // Undefined features are null: the column is left out of the row (NULL in QuestDB).
  const v = (i: number, every: number) => (i % every === 0 ? null : [r() * 2 - 1, 0, -0, 1, -1, 61_050.123_456_789][i % 6] as number);
  return Array.from({ length: n }, (_, i) => ({
    symbol: ['005930', '000660', '0000Z0'][i % 3] as string, venue: (['KRX', 'NXT', 'INTEGRATED'] as const)[i % 3] ?? 'KRX',
    marketSession: (['UNKNOWN', 'PRE_MARKET', 'REGULAR', 'AFTER_MARKET', 'CLOSING_PRICE'] as const)[i % 5] ?? 'REGULAR', exchangeTime: T0 + i * 7, sequence: i === 2 ? BIG : i,
    bookState: (['NORMAL', 'LOCKED', 'CROSSED', 'ONE_SIDED', 'EMPTY'] as const)[i % 5] ?? 'NORMAL', bestBid: i % 5 === 4 ? null : 61_000, bestAsk: i % 4 === 3 ? null : 61_100,
    spread: i % 3 === 1 ? null : 100, mid: v(i, 3), microprice: v(i, 4), imbalance1: v(i, 5), imbalance5: v(i, 7), imbalance10: v(i, 11),
    bidDepth1: Math.floor(r() * 1e6), bidDepth5: i === 3 ? BIG : 5e6, bidDepth10: 0, askDepth1: 1, askDepth5: Math.floor(r() * 1e7), askDepth10: 2 ** 40,
    totalBidQuantity: 12_345, totalAskQuantity: i === 5 ? BIG : 0,
  }));
}

function dailyBars(n: number): DailyBar[] {
  const r = rng(5);
  return Array.from({ length: n }, (_, i) => ({
    code: ['005930', '000660', '0000Z0'][i % 3] as string, date: 20_000 + i, market: (['KOSPI', 'KOSDAQ', 'KONEX'] as const)[i % 3] ?? 'KOSPI',
    name: ['삼성전자', 'SK하이닉스', '', 'a "b", c=d\\e'][i % 4] as string, open: i === 2 ? 0 : 61_000 + i, high: 62_000, low: 60_000, close: i === 3 ? BIG : 61_500,
    change: i % 2 ? -500 : 500, changeRate: [0.82, -0.81, 0, 29.99][i % 4] as number, volume: Math.floor(r() * 1e8), tradedValue: Math.floor(r() * 1e13),
    marketCap: 2 ** 53 - 1, listedShares: 5_969_782_550, source: (['KRX_DATA', 'KRX_OPENAPI', 'SIMULATOR'] as const)[i % 3] ?? 'KRX_DATA', ingestTime: T0 + i,
  }));
}

const samples = (table: string): unknown[] => (table === 'daily_bars' ? dailyBars(20) : table === 'ticks' ? ticks(40) : table === 'orderbook' ? books(25) : table === 'orderbook_features' ? bookFeatures(30) : table.startsWith('candles_') ? candles(30, table.slice(8))
  : table.startsWith('indicators_') ? indicators(36, table.slice(11)) : table.startsWith('features_') ? features(30, table.slice(9)) : []);

test('every table encodes byte for byte as the official client writes the same rows', () => {
  const mappings = [...questdbMappings(topicCatalogue('ns.'), 'p_').values()];
  assert.equal(mappings.length, TABLES.length);
  for (const m of mappings) {
    const rows = samples(m.spec.table);
    assert.ok(rows.length > 0, `test records for ${m.spec.table}`);
    const out = new IlpBuffer(64);
    for (const r of rows) m.encoder.encode(r, out);
    assert.equal(out.bytes().toString('hex'), clientRows(m.table, m.spec.columns, m.spec.ts, rows).toString('hex'), m.table);
  }
});

test('ticks (with the venue and session added for NXT) and candles (with the session added) keep the exact rows of the hand-written client calls they replace', () => {
  const m = questdbMappings(topicCatalogue(), '');
  const encode = (topic: string, rows: unknown[]) => {
    const out = new IlpBuffer();
    const mapping = m.get(topic);
    assert.ok(mapping);
    for (const r of rows) mapping.encoder.encode(r, out);
    return out.bytes().toString('hex');
  };
  const b = clientBuffer();
  for (const t of ticks(40)) {
    b.table('ticks').symbol('symbol', t.symbol).symbol('side', t.side).symbol('source', t.source).symbol('session_code', t.sessionCode)
      .symbol('venue', t.venue).symbol('market_session', t.marketSession)
      .intColumn('price', t.price).intColumn('quantity', t.quantity).intColumn('cumulative_volume', t.cumulativeVolume).intColumn('cumulative_value', t.cumulativeValue)
      .intColumn('seq', t.sequence).booleanColumn('halted', t.halted).timestampColumn('ingest_time', t.ingestTime, 'us').at(t.exchangeTime, 'us');
  }
  assert.equal(encode('market.ticks.v1', ticks(40)), b.toBufferView()?.toString('hex'));
  const c = clientBuffer();
  for (const k of candles(30, '1s')) {
    const row = c.table('candles_1s').symbol('symbol', k.symbol).symbol('market_session', k.marketSession).intColumn('open', k.open).intColumn('high', k.high).intColumn('low', k.low).intColumn('close', k.close)
      .intColumn('volume', k.volume).intColumn('traded_value', k.tradedValue).intColumn('trade_count', k.tradeCount).floatColumn('vwap', k.vwap)
      .booleanColumn('is_final', k.isFinal).timestampColumn('window_end', k.windowEnd, 'us').timestampColumn('emitted_at', k.emittedAt, 'us');
    // The regular part of a MIXED candle (candles with sessions), absent otherwise.
    if (k.regularOpen !== null) {
      row.intColumn('regular_open', k.regularOpen).intColumn('regular_high', k.regularHigh as number).intColumn('regular_low', k.regularLow as number)
        .intColumn('regular_close', k.regularClose as number).intColumn('regular_volume', k.regularVolume as number)
        .intColumn('regular_traded_value', k.regularTradedValue as number).intColumn('regular_trade_count', k.regularTradeCount as number);
    }
    row.at(k.windowStart, 'us');
  }
  assert.equal(encode('market.candles.1s.v1', candles(30, '1s')), c.toBufferView()?.toString('hex'));
});

test('a table created by an older version gets the columns it lacks, with their DDL types, and nothing else', () => {
  const spec = TABLES.find((t) => t.table === 'candles_1s') as never;
  const before = ['symbol', 'open', 'high', 'low', 'close', 'volume', 'traded_value', 'trade_count', 'vwap', 'is_final', 'window_end', 'emitted_at', 'ts'];
  assert.deepEqual(addMissingColumnsSql(spec, 'x_candles_1s', before), [
    'market_session SYMBOL', 'regular_open LONG', 'regular_high LONG', 'regular_low LONG', 'regular_close LONG', 'regular_volume LONG',
    'regular_traded_value LONG', 'regular_trade_count LONG',
  ].map((c) => `ALTER TABLE "x_candles_1s" ADD COLUMN ${c}`));
  assert.deepEqual(addMissingColumnsSql(spec, 'x_candles_1s', [...before, 'MARKET_SESSION', 'regular_open', 'regular_high', 'regular_low', 'regular_close', 'regular_volume', 'regular_traded_value', 'regular_trade_count']), [], 'names compare case-insensitively, as QuestDB does');
});

test('the generated DDL keeps the tables as they were: columns, WAL, daily partitions, DEDUP keys', () => {
  const ddl = (table: string) => createTableSql(TABLES.find((t) => t.table === table) as never, table);
  assert.equal(ddl('ticks'), 'CREATE TABLE IF NOT EXISTS "ticks" (symbol SYMBOL CAPACITY 4096 CACHE, price LONG, quantity LONG, side SYMBOL, cumulative_volume LONG, cumulative_value LONG, seq LONG, source SYMBOL, session_code SYMBOL, halted BOOLEAN, ingest_time TIMESTAMP, venue SYMBOL, market_session SYMBOL, ts TIMESTAMP) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, symbol, seq, venue)');
  assert.equal(ddl('candles_1s'), 'CREATE TABLE IF NOT EXISTS "candles_1s" (symbol SYMBOL CAPACITY 4096 CACHE, open LONG, high LONG, low LONG, close LONG, volume LONG, traded_value LONG, trade_count LONG, vwap DOUBLE, is_final BOOLEAN, window_end TIMESTAMP, emitted_at TIMESTAMP, market_session SYMBOL, regular_open LONG, regular_high LONG, regular_low LONG, regular_close LONG, regular_volume LONG, regular_traded_value LONG, regular_trade_count LONG, ts TIMESTAMP) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, symbol)');
  assert.equal(ddl('features_1m'), 'CREATE TABLE IF NOT EXISTS "features_1m" (symbol SYMBOL CAPACITY 4096 CACHE, close LONG, volume LONG, is_final BOOLEAN, change LONG, change_pct DOUBLE, volume_ratio DOUBLE, volatility20 DOUBLE, bollinger_position DOUBLE, window_end TIMESTAMP, emitted_at TIMESTAMP, ts TIMESTAMP) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, symbol)');
  const book = ddl('orderbook');
  for (let i = 1; i <= BOOK_LEVELS; i++) for (const col of [`ask_price_${i} LONG`, `ask_qty_${i} LONG`, `bid_price_${i} LONG`, `bid_qty_${i} LONG`]) assert.ok(book.includes(col), col);
  assert.match(book, /total_ask_qty LONG, total_bid_qty LONG.*DEDUP UPSERT KEYS\(ts, symbol, seq, venue\)$/);
  assert.match(ddl('orderbook_features'), /spread LONG, mid DOUBLE, microprice DOUBLE, imbalance_1 DOUBLE.*TIMESTAMP\(ts\) PARTITION BY DAY WAL DEDUP UPSERT KEYS\(ts, symbol, seq, venue\)$/);
  const names = new Set(TABLES.map((t) => t.table));
  assert.equal(names.size, TABLES.length, 'one entry per table');
});
