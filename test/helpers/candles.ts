import type { Candle, MarketSession, Tick } from '../../schemas/generated/types.js';

export type ExpectedCandle = Pick<Candle, 'symbol' | 'windowStart' | 'open' | 'high' | 'low' | 'close' | 'volume' | 'tradedValue' | 'tradeCount'>;

/**
 * 1-second OHLCV computed the plainest way, independent of the processor: group by symbol and
 * second, order each group by (exchange time, sequence).
 */
export function expectedSecondCandles(ticks: readonly Tick[]): Map<string, ExpectedCandle> {
  return expectedCandles(ticks, 1_000_000);
}

/** The same for windows of `sizeMicros` whose starts are shifted by `alignOffsetMicros` (days on KST: +9 h). */
export function expectedCandles(ticks: readonly Tick[], sizeMicros: number, alignOffsetMicros = 0): Map<string, ExpectedCandle> {
  const startOf = (t: number) => Math.floor((t + alignOffsetMicros) / sizeMicros) * sizeMicros - alignOffsetMicros;
  const groups = new Map<string, Tick[]>();
  for (const t of ticks) {
    const start = startOf(t.exchangeTime);
    const key = `${t.symbol}@${start}`;
    const g = groups.get(key);
    if (g) g.push(t);
    else groups.set(key, [t]);
  }
  const out = new Map<string, ExpectedCandle>();
  for (const [key, g] of groups) {
    g.sort((a, b) => a.exchangeTime - b.exchangeTime || a.sequence - b.sequence);
    const first = g[0] as Tick;
    out.set(key, {
      symbol: first.symbol,
      windowStart: startOf(first.exchangeTime),
      open: first.price,
      close: (g[g.length - 1] as Tick).price,
      high: Math.max(...g.map((t) => t.price)),
      low: Math.min(...g.map((t) => t.price)),
      volume: g.reduce((s, t) => s + t.quantity, 0),
      tradedValue: g.reduce((s, t) => s + t.price * t.quantity, 0),
      tradeCount: g.length,
    });
  }
  return out;
}

export type ExpectedSessionFields = Pick<Candle, 'marketSession' | 'regularOpen' | 'regularHigh' | 'regularLow' | 'regularClose' | 'regularVolume' | 'regularTradedValue' | 'regularTradeCount'>;

/**
 * A window's session fields from its trades, the plainest way: the one session they share (absent
 * reads UNKNOWN) or MIXED; for MIXED, the OHLCV of the REGULAR trades alone, ordered by (time, sequence).
 */
export function expectedSessionFields(trades: ReadonlyArray<{ session?: MarketSession; time: number; sequence: number; price: number; quantity: number }>): ExpectedSessionFields {
  const sessions = new Set(trades.map((t) => t.session ?? 'UNKNOWN'));
  const regular = trades.filter((t) => t.session === 'REGULAR').sort((a, b) => a.time - b.time || a.sequence - b.sequence);
  const mixed = sessions.size > 1;
  const r = mixed && regular.length > 0;
  return {
    marketSession: mixed ? 'MIXED' : ([...sessions][0] ?? 'UNKNOWN'),
    regularOpen: r ? (regular[0]?.price ?? null) : null,
    regularHigh: r ? Math.max(...regular.map((t) => t.price)) : null,
    regularLow: r ? Math.min(...regular.map((t) => t.price)) : null,
    regularClose: r ? (regular[regular.length - 1]?.price ?? null) : null,
    regularVolume: r ? regular.reduce((s, t) => s + t.quantity, 0) : null,
    regularTradedValue: r ? regular.reduce((s, t) => s + t.price * t.quantity, 0) : null,
    regularTradeCount: r ? regular.length : null,
  };
}

/** The session fields of every window of `sizeMicros` (shifted by `alignOffsetMicros`), by symbol@windowStart. */
export function expectedWindowSessions(ticks: readonly Tick[], sizeMicros: number, alignOffsetMicros = 0): Map<string, ExpectedSessionFields> {
  const groups = new Map<string, Tick[]>();
  for (const t of ticks) {
    const key = `${t.symbol}@${Math.floor((t.exchangeTime + alignOffsetMicros) / sizeMicros) * sizeMicros - alignOffsetMicros}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  return new Map([...groups].map(([key, g]) => [key, expectedSessionFields(g.map((t) => ({ session: t.marketSession, time: t.exchangeTime, sequence: t.sequence, price: t.price, quantity: t.quantity })))]));
}
