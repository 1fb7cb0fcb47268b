import { KST_OFFSET_MICROS, MICROS_PER_SECOND, windowStartOf } from '../../lib/time.js';
import type { Candle } from '../../schemas/generated/types.js';
import type { InRecord, Processor, ProcessorContext, ProcessResult } from '../runtime/processor.js';
import { jsonStore, type KeyValueStore, type StoreSpec } from '../runtime/store.js';
import { gcd, toCandle, type WindowOhlcv } from '../candles/processor.js';
import { regularContentOf, trackSession } from '../candles/sessions.js';

export const ROLLUP_INTERVALS = ['1m', '5m', '15m', '1h', '1d'] as const;
export type RollupInterval = (typeof ROLLUP_INTERVALS)[number];

const SIZE: Record<RollupInterval, number> = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '1d': 86_400 };

/** Window size and alignment: days start at midnight KST; shorter windows nest inside them. */
export function rollupWindow(interval: RollupInterval): { sizeMicros: number; alignOffsetMicros: number } {
  return { sizeMicros: SIZE[interval] * MICROS_PER_SECOND, alignOffsetMicros: interval === '1d' ? KST_OFFSET_MICROS : 0 };
}

/** The open window of one symbol at one interval, as kept in its store (and changelog). */
export interface RollupState extends WindowOhlcv {
  /** Start of the earliest and latest 1 s candle folded in: open and close follow them. */
  firstStart: number;
  lastStart: number;
}

export type RollupOutputs = Record<RollupInterval, Candle>;

export const rollupStores: StoreSpec[] = ROLLUP_INTERVALS.map((iv) => jsonStore<RollupState>(storeName(iv)));

function storeName(interval: RollupInterval): string {
  return `rollup-${interval}`;
}

export interface RollupOptions {
  /** Event time after a window's end during which 1 s finals are still folded in. */
  graceMicros: number;
  /** Wall-clock period of in-progress updates for live panels. */
  updateIntervalMs: number;
}

/**
 * 1 m … 1 d candles from 1 s final candles (in-progress 1 s candles are ignored). Open windows live in
 * changelogged stores, so a restart costs a restore, never a replay of the day. The event time of a
 * 1 s final is its window start: a roll-up window closes when the first 1 s final at or after its
 * end (+ grace) arrives, or when an idle partition's stream time follows the wall clock there.
 */
export class RollupProcessor implements Processor<Candle, RollupOutputs> {
  private ctx!: ProcessorContext<RollupOutputs>;
  private readonly stores = new Map<RollupInterval, KeyValueStore<RollupState>>();
  /** Windows changed since the last in-progress update, by interval. */
  private readonly dirty = new Map<RollupInterval, Set<string>>(ROLLUP_INTERVALS.map((iv) => [iv, new Set()]));

  constructor(private readonly options: RollupOptions) {}

  init(ctx: ProcessorContext<RollupOutputs>): void {
    this.ctx = ctx;
    for (const iv of ROLLUP_INTERVALS) this.stores.set(iv, ctx.store<RollupState>(storeName(iv)));
    // Every window of every interval ends at a whole minute (days at 15:00 UTC), so with the grace
    // added, a punctuation at every multiple of gcd(1 min, grace) sees each end.
    ctx.schedule(gcd(60 * MICROS_PER_SECOND, this.options.graceMicros), 'stream-time', (now) => this.closeWindows(now));
    ctx.schedule(this.options.updateIntervalMs, 'wall-clock', () => this.emitUpdates());
  }

  /** Event time for the runtime: in-progress 1 s candles must not move stream time (their finals may still come). */
  static timestamp(c: Candle): number {
    return c.isFinal ? c.windowStart : Number.NEGATIVE_INFINITY;
  }

  process(r: InRecord<Candle>): ProcessResult {
    const c = r.value;
    if (!c.isFinal) return;
    const streamTime = this.ctx.streamTime();
    // Windows nest, so the 1 m window is the first to close: if it has, the 1 s candle is late for all.
    const { sizeMicros } = rollupWindow('1m');
    if (windowStartOf(c.windowStart, sizeMicros) + sizeMicros + this.options.graceMicros <= streamTime) return 'late';
    for (const iv of ROLLUP_INTERVALS) this.fold(iv, c);
  }

  awaitsStreamTime(): boolean {
    for (const s of this.stores.values()) if (s.size > 0) return true;
    return false;
  }

  /** In-progress versions of the windows changed since the last call. */
  emitUpdates(): void {
    const emittedAt = this.ctx.wallClockMs() * 1000;
    for (const iv of ROLLUP_INTERVALS) {
      const dirty = this.dirty.get(iv) as Set<string>;
      const store = this.stores.get(iv) as KeyValueStore<RollupState>;
      for (const key of dirty) {
        const s = store.get(key);
        if (s) this.ctx.forward(iv, s.symbol, toCandle(s, iv, false, emittedAt), s.start);
      }
      dirty.clear();
    }
  }

  private fold(iv: RollupInterval, c: Candle): void {
    const store = this.stores.get(iv) as KeyValueStore<RollupState>;
    const { sizeMicros, alignOffsetMicros } = rollupWindow(iv);
    const start = windowStartOf(c.windowStart, sizeMicros, alignOffsetMicros);
    // Keyed by window too: within the grace a symbol can have two windows of one interval open.
    const key = `${c.symbol}@${start}`;
    const s = store.get(key);
    if (!s) {
      store.put(key, {
        symbol: c.symbol, start, end: start + sizeMicros,
        open: c.open, high: c.high, low: c.low, close: c.close,
        volume: c.volume, tradedValue: c.tradedValue, tradeCount: c.tradeCount,
        firstStart: c.windowStart, lastStart: c.windowStart,
        session: c.marketSession, regular: c.marketSession === 'MIXED' ? regularContentOf(c, c.windowStart) : null,
      });
    } else {
      trackSession(s, c.marketSession, () => regularContentOf(c, c.windowStart), () => ({
        open: s.open, high: s.high, low: s.low, close: s.close, volume: s.volume, tradedValue: s.tradedValue, tradeCount: s.tradeCount,
        firstTime: s.firstStart, firstSequence: 0, lastTime: s.lastStart, lastSequence: 0,
      }));
      if (c.high > s.high) s.high = c.high;
      if (c.low < s.low) s.low = c.low;
      if (c.windowStart < s.firstStart) {
        s.open = c.open;
        s.firstStart = c.windowStart;
      }
      if (c.windowStart >= s.lastStart) {
        s.close = c.close;
        s.lastStart = c.windowStart;
      }
      s.volume += c.volume;
      s.tradedValue += c.tradedValue;
      s.tradeCount += c.tradeCount;
      store.put(key, s);
    }
    (this.dirty.get(iv) as Set<string>).add(key);
  }

  private closeWindows(streamTime: number): void {
    const emittedAt = this.ctx.wallClockMs() * 1000;
    for (const iv of ROLLUP_INTERVALS) {
      const store = this.stores.get(iv) as KeyValueStore<RollupState>;
      const closed: Array<[string, RollupState]> = [];
      for (const [key, s] of store.entries()) if (s.end + this.options.graceMicros <= streamTime) closed.push([key, s]);
      // Oldest first, then by symbol: the same order whatever order a restore filled the store in.
      closed.sort((a, b) => a[1].start - b[1].start || (a[1].symbol < b[1].symbol ? -1 : a[1].symbol > b[1].symbol ? 1 : 0));
      const dirty = this.dirty.get(iv) as Set<string>;
      for (const [key, s] of closed) {
        this.ctx.forward(iv, s.symbol, toCandle(s, iv, true, emittedAt), s.start);
        store.delete(key);
        dirty.delete(key);
      }
    }
  }
}
