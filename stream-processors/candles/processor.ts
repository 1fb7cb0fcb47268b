import type { Candle } from '../../schemas/generated/types.js';
import type { InRecord, Processor, ProcessorContext, ProcessResult } from '../runtime/processor.js';
import { sessionFields, type SessionTracked } from './sessions.js';
import { PartitionWindows, type CandleState, type TradeInput } from './windows.js';

export interface CandleProcessorOptions {
  interval: string;
  sizeMicros: number;
  graceMicros: number;
  /** Wall-clock period of in-progress updates for live panels. */
  updateIntervalMs: number;
  /** Shifts window alignment, e.g. to align days on KST (+9 h). */
  alignOffsetMicros?: number;
}

export interface CandleOutputs {
  candles: Candle;
}

/**
 * OHLCV windows of trades on one input partition. Open windows are not stored: they are rebuilt by
 * re-reading their input after a restart (`retainedFrom`), which costs a second or two of input
 * instead of a changelog record per window change.
 */
export class CandleProcessor implements Processor<TradeInput, CandleOutputs> {
  private readonly windows: PartitionWindows;
  private ctx!: ProcessorContext<CandleOutputs>;

  constructor(private readonly options: CandleProcessorOptions) {
    this.windows = new PartitionWindows(options.sizeMicros, options.graceMicros, options.alignOffsetMicros ?? 0);
  }

  init(ctx: ProcessorContext<CandleOutputs>): void {
    this.ctx = ctx;
    // Every window closes at a multiple of this (start + size + grace), so a punctuation there is enough.
    const step = gcd(gcd(this.options.sizeMicros, this.options.graceMicros), this.options.alignOffsetMicros ?? 0);
    ctx.schedule(step, 'stream-time', (now) => this.emitFinals(now));
    ctx.schedule(this.options.updateIntervalMs, 'wall-clock', () => this.emitUpdates());
  }

  process(r: InRecord<TradeInput>): ProcessResult {
    // Replayed records of windows closed before the restart come back 'late' and the runtime drops them.
    return this.windows.add(r.value, r.offset, this.ctx.streamTime()) === 'late' ? 'late' : undefined;
  }

  retainedFrom(): number | undefined {
    return this.windows.retainedFrom();
  }

  awaitsStreamTime(): boolean {
    return this.windows.openWindowCount > 0;
  }

  get openWindowCount(): number {
    return this.windows.openWindowCount;
  }

  /** In-progress versions of the windows changed since the last call. */
  emitUpdates(): void {
    const emittedAt = this.ctx.wallClockMs() * 1000;
    for (const c of this.windows.takeDirty()) this.forward(c, false, emittedAt);
  }

  private emitFinals(streamTime: number): void {
    const closed = this.windows.closeWindows(streamTime);
    if (closed.length === 0) return;
    const emittedAt = this.ctx.wallClockMs() * 1000;
    for (const c of closed) this.forward(c, true, emittedAt);
  }

  private forward(c: CandleState, isFinal: boolean, emittedAt: number): void {
    this.ctx.forward('candles', c.symbol, toCandle(c, this.options.interval, isFinal, emittedAt), c.start);
  }
}

/** The OHLCV of one window, whatever it was folded from (trades, or 1 s candles for the roll-ups). */
export type WindowOhlcv = Pick<CandleState, 'symbol' | 'start' | 'end' | 'open' | 'high' | 'low' | 'close' | 'volume' | 'tradedValue' | 'tradeCount'> & SessionTracked;

export function toCandle(c: WindowOhlcv, interval: string, isFinal: boolean, emittedAt: number): Candle {
  return {
    symbol: c.symbol,
    interval,
    windowStart: c.start,
    windowEnd: c.end,
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
    volume: c.volume,
    tradedValue: c.tradedValue,
    tradeCount: c.tradeCount,
    vwap: c.volume > 0 ? c.tradedValue / c.volume : 0,
    isFinal,
    emittedAt,
    ...sessionFields(c),
  };
}

/** Greatest common divisor: the punctuation step at which windows of several sizes and a grace all close. */
export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return Math.abs(a);
}
