/**
 * The topic catalogue: every topic the project reads or writes, with its partitioning and retention.
 * `TOPIC_NAMESPACE` prefixes every name so tests (and parallel demos) get topics of their own.
 */
export interface TopicSpec {
  name: string;
  partitions: number;
  config: Record<string, string>;
}

const DAY_MS = 24 * 3600 * 1000;

export const CANDLE_INTERVALS = ['1s', '1m', '5m', '15m', '1h', '1d'] as const;
export type CandleInterval = (typeof CANDLE_INTERVALS)[number];

export interface TopicCatalogue {
  ticks: TopicSpec;
  orderbook: TopicSpec;
  /** One features record per order book (stream-processors/orderbook-features). */
  orderbookFeatures: TopicSpec;
  lateTicks: TopicSpec;
  rawKis: TopicSpec;
  /** KRX listings, compacted: the latest record per 6-digit code is the stock's current state. */
  stocks: TopicSpec;
  krxDailyBars: TopicSpec;
  candles(interval: CandleInterval): TopicSpec;
  indicators(interval: CandleInterval): TopicSpec;
  /** Model features per symbol and bar, written by the indicators processor beside its indicators. */
  features(interval: CandleInterval): TopicSpec;
  dlq(stage: string): TopicSpec;
}

export function topicCatalogue(namespace = '', partitions = 6): TopicCatalogue {
  const name = (base: string) => `${namespace}${base}`;
  const timed = (base: string, days: number, p = partitions): TopicSpec => ({
    name: name(base),
    partitions: p,
    config: { 'cleanup.policy': 'delete', 'retention.ms': String(days * DAY_MS) },
  });
  return {
    ticks: timed('market.ticks.v1', 7),
    orderbook: timed('market.orderbook.v1', 3),
    // As long as the books they are recomputable from; QuestDB keeps the history.
    orderbookFeatures: timed('market.orderbook-features.v1', 3),
    lateTicks: timed('market.late-ticks.v1', 7),
    rawKis: timed('raw.kis.v1', 7),
    stocks: { name: name('ref.stocks.v1'), partitions, config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' } },
    // Daily bars are the long history, like daily candles.
    krxDailyBars: timed('krx.daily-bars.v1', 3650),
    // Daily candles are the long history; intraday candles are rebuilt from ticks if needed.
    candles: (interval) => timed(`market.candles.${interval}.v1`, interval === '1d' ? 3650 : 30),
    indicators: (interval) => timed(`market.indicators.${interval}.v1`, interval === '1d' ? 3650 : 30),
    features: (interval) => timed(`market.features.${interval}.v1`, interval === '1d' ? 3650 : 30),
    dlq: (stage) => timed(`dlq.${stage}.v1`, 14, 1),
  };
}

/** Avro subjects follow Confluent's TopicNameStrategy, so any registry-aware client finds them. */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}
