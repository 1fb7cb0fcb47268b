import { windowStartOf } from '../../lib/time.js';
import type { MarketSession } from '../../schemas/generated/types.js';
import { copyPart, sessionOfTrade, trackSession, tradePart, type OhlcvPart, type SessionTracked } from './sessions.js';

/**
 * Running OHLCV of one symbol in one window (an OhlcvPart: open and close follow the first and last
 * trade by exchange time, then sequence, even out of order). Prices and volumes stay integers (KRW, shares).
 */
export interface CandleState extends OhlcvPart, SessionTracked {
  symbol: string;
  start: number;
  end: number;
  /** Offset of the first input record in this window: the partition may not commit past it while it is open. */
  firstOffset: number;
  dirty: boolean;
}

export interface TradeInput {
  symbol: string;
  time: number;
  sequence: number;
  price: number;
  quantity: number;
  /** The tick's market session; absent reads UNKNOWN. */
  session?: MarketSession;
}

export type AddResult = 'accepted' | 'late' | 'already-processed';

/**
 * Event-time tumbling windows for one input partition. Stream time (the runtime's: the largest event
 * time seen, or advanced while idle) is passed in; a window [start, end) closes once stream time ≥
 * end + grace, after which a trade for it is late. Everything here is deterministic: the same inputs
 * in the same order give the same candles, which is what makes replay after a crash exact.
 */
export class PartitionWindows {
  private readonly byStart = new Map<number, Map<string, CandleState>>();

  constructor(
    readonly sizeMicros: number,
    readonly graceMicros: number,
    /** Shifts window alignment, e.g. to align days on KST (+9 h). */
    readonly alignOffsetMicros = 0,
  ) {}

  get openWindowCount(): number {
    let n = 0;
    for (const m of this.byStart.values()) n += m.size;
    return n;
  }

  isClosed(windowEnd: number, streamTime: number): boolean {
    return windowEnd + this.graceMicros <= streamTime;
  }

  /** Adds a trade at the stream time before it; 'late' when its window closed already. */
  add(trade: TradeInput, offset: number, streamTime: number): 'accepted' | 'late' {
    const start = windowStartOf(trade.time, this.sizeMicros, this.alignOffsetMicros);
    const end = start + this.sizeMicros;
    if (this.isClosed(end, streamTime)) return 'late';
    let bucket = this.byStart.get(start);
    if (!bucket) {
      bucket = new Map();
      this.byStart.set(start, bucket);
    }
    const c = bucket.get(trade.symbol);
    const session = sessionOfTrade(trade.session);
    if (!c) {
      bucket.set(trade.symbol, {
        symbol: trade.symbol, start, end, session,
        open: trade.price, high: trade.price, low: trade.price, close: trade.price,
        volume: trade.quantity, tradedValue: trade.price * trade.quantity, tradeCount: 1,
        firstOffset: offset, firstTime: trade.time, firstSequence: trade.sequence, lastTime: trade.time, lastSequence: trade.sequence, dirty: true,
      });
      return 'accepted';
    }
    // trackSession returns at once for a trade of the window's own session (the hot path): checked
    // here first, so that path allocates no closures.
    if (session !== c.session) trackSession(c, session, () => (session === 'REGULAR' ? tradePart(trade.price, trade.quantity, trade.time, trade.sequence) : null), () => copyPart(c));
    if (trade.price > c.high) c.high = trade.price;
    if (trade.price < c.low) c.low = trade.price;
    // Open and close follow exchange time, then sequence, not arrival: an out-of-order trade within
    // the grace period lands where it belongs.
    if (comesBefore(trade, c.firstTime, c.firstSequence)) {
      c.open = trade.price;
      c.firstTime = trade.time;
      c.firstSequence = trade.sequence;
    }
    if (!comesBefore(trade, c.lastTime, c.lastSequence)) {
      c.close = trade.price;
      c.lastTime = trade.time;
      c.lastSequence = trade.sequence;
    }
    c.volume += trade.quantity;
    c.tradedValue += trade.price * trade.quantity;
    c.tradeCount += 1;
    if (offset < c.firstOffset) c.firstOffset = offset;
    c.dirty = true;
    return 'accepted';
  }

  /** Removes and returns every window closed at `streamTime`, oldest first, then by symbol. */
  closeWindows(streamTime: number): CandleState[] {
    const starts = [...this.byStart.keys()].filter((s) => this.isClosed(s + this.sizeMicros, streamTime)).sort((a, b) => a - b);
    const closed: CandleState[] = [];
    for (const s of starts) {
      const bucket = this.byStart.get(s) as Map<string, CandleState>;
      this.byStart.delete(s);
      closed.push(...[...bucket.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0)));
    }
    return closed;
  }

  /** Open windows changed since the last call (for in-progress updates); clears their dirty flag. */
  takeDirty(): CandleState[] {
    const out: CandleState[] = [];
    for (const bucket of this.byStart.values()) {
      for (const c of bucket.values()) {
        if (c.dirty) {
          c.dirty = false;
          out.push(c);
        }
      }
    }
    return out;
  }

  /** The first input offset an open window still needs (undefined when none is open): a restart re-reads from it. */
  retainedFrom(): number | undefined {
    let low = Number.POSITIVE_INFINITY;
    for (const bucket of this.byStart.values()) for (const c of bucket.values()) if (c.firstOffset < low) low = c.firstOffset;
    return low === Number.POSITIVE_INFINITY ? undefined : low;
  }
}

function comesBefore(trade: TradeInput, time: number, sequence: number): boolean {
  return trade.time < time || (trade.time === time && trade.sequence < sequence);
}
