import type { Candle, Tick } from '../../schemas/generated/types.js';

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
