import type { Candle, CandleSession, MarketSession } from '../../schemas/generated/types.js';

/**
 * The market session of a candle, and the regular-hours part of a candle whose window spans sessions.
 *
 * A candle is every trade of its window, whatever the session: the chart a user sees by default, and
 * the series the indicators run on. It carries the session its trades share, or MIXED. Windows of
 * 15 m and longer do span sessions (the closing auction prints at 15:30:00, after-hours trading starts
 * at 15:40; a day holds every session), so a MIXED candle also carries the OHLCV of its regular-session
 * trades alone: a regular-hours chart is then exact at every interval, from one record per window.
 *
 * The regular part is kept only once a window is MIXED (before that it is the whole candle or
 * nothing), so the common single-session window costs no extra state.
 */

/** OHLCV of some trades, with the first and last of them in (time, sequence) order for open and close. */
export interface OhlcvPart {
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  tradedValue: number;
  tradeCount: number;
  firstTime: number;
  firstSequence: number;
  lastTime: number;
  lastSequence: number;
}

/** A window's session bookkeeping, stored beside its OHLCV (state restored from before it existed has neither). */
export interface SessionTracked {
  session?: CandleSession;
  regular?: OhlcvPart | null;
}

export function sessionOfTrade(s: MarketSession | undefined): CandleSession {
  return s ?? 'UNKNOWN';
}

/** Folds `b` into `a` (mutating `a`): open and close follow (time, sequence), not arrival. */
export function mergePart(a: OhlcvPart, b: OhlcvPart): OhlcvPart {
  if (b.high > a.high) a.high = b.high;
  if (b.low < a.low) a.low = b.low;
  if (b.firstTime < a.firstTime || (b.firstTime === a.firstTime && b.firstSequence < a.firstSequence)) {
    a.open = b.open;
    a.firstTime = b.firstTime;
    a.firstSequence = b.firstSequence;
  }
  if (b.lastTime > a.lastTime || (b.lastTime === a.lastTime && b.lastSequence >= a.lastSequence)) {
    a.close = b.close;
    a.lastTime = b.lastTime;
    a.lastSequence = b.lastSequence;
  }
  a.volume += b.volume;
  a.tradedValue += b.tradedValue;
  a.tradeCount += b.tradeCount;
  return a;
}

/**
 * Adds one contribution (a trade, or a finished shorter candle) of session `session` to a window that
 * already holds others. Call it before folding the contribution into the window's whole OHLCV:
 * `whole()` is the window as it was, which becomes its regular part when a REGULAR window turns MIXED.
 * `regularOf()` is the contribution's regular-session content, if any.
 */
export function trackSession(w: SessionTracked, session: CandleSession, regularOf: () => OhlcvPart | null, whole: () => OhlcvPart): void {
  const current = w.session ?? 'UNKNOWN';
  if (current === session && session !== 'MIXED') return;
  if (current !== 'MIXED') {
    w.regular = current === 'REGULAR' ? whole() : null;
    w.session = 'MIXED';
  }
  const part = regularOf();
  if (part) w.regular = w.regular ? mergePart(w.regular, part) : part;
}

/** The candle's session fields for its output record. */
export function sessionFields(w: SessionTracked): Pick<Candle, 'marketSession' | 'regularOpen' | 'regularHigh' | 'regularLow' | 'regularClose' | 'regularVolume' | 'regularTradedValue' | 'regularTradeCount'> {
  const session = w.session ?? 'UNKNOWN';
  const r = session === 'MIXED' ? w.regular : null;
  return {
    marketSession: session,
    regularOpen: r ? r.open : null,
    regularHigh: r ? r.high : null,
    regularLow: r ? r.low : null,
    regularClose: r ? r.close : null,
    regularVolume: r ? r.volume : null,
    regularTradedValue: r ? r.tradedValue : null,
    regularTradeCount: r ? r.tradeCount : null,
  };
}

/**
 * The regular-session content of a finished candle, placed at `at` (its window start) for ordering
 * inside a longer window: the whole candle when it is REGULAR, its regular part when MIXED.
 */
export function regularContentOf(c: Candle, at: number): OhlcvPart | null {
  if (c.marketSession === 'REGULAR') return partOf(c.open, c.high, c.low, c.close, c.volume, c.tradedValue, c.tradeCount, at);
  if (c.marketSession !== 'MIXED' || c.regularOpen === null) return null;
  return partOf(c.regularOpen, c.regularHigh ?? c.regularOpen, c.regularLow ?? c.regularOpen, c.regularClose ?? c.regularOpen,
    c.regularVolume ?? 0, c.regularTradedValue ?? 0, c.regularTradeCount ?? 0, at);
}

function partOf(open: number, high: number, low: number, close: number, volume: number, tradedValue: number, tradeCount: number, at: number): OhlcvPart {
  return { open, high, low, close, volume, tradedValue, tradeCount, firstTime: at, firstSequence: 0, lastTime: at, lastSequence: 0 };
}

/** The OhlcvPart fields of `p` (a window's whole state, say) as a part of their own. */
export function copyPart(p: OhlcvPart): OhlcvPart {
  return {
    open: p.open, high: p.high, low: p.low, close: p.close, volume: p.volume, tradedValue: p.tradedValue, tradeCount: p.tradeCount,
    firstTime: p.firstTime, firstSequence: p.firstSequence, lastTime: p.lastTime, lastSequence: p.lastSequence,
  };
}

/** One trade as a part. */
export function tradePart(price: number, quantity: number, time: number, sequence: number): OhlcvPart {
  return { open: price, high: price, low: price, close: price, volume: quantity, tradedValue: price * quantity, tradeCount: 1, firstTime: time, firstSequence: sequence, lastTime: time, lastSequence: sequence };
}
