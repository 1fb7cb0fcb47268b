import type { Candle } from '../../schemas/generated/types.js';
import { PartitionWindows, type AddResult, type CandleState, type TradeInput } from './windows.js';

export interface CandleTaskOptions {
  interval: string;
  sizeMicros: number;
  graceMicros: number;
  /** After this long without records, a partition's stream time follows the wall clock. */
  idleMs: number;
  alignOffsetMicros?: number;
}

/** What is committed with a partition's offset so a restart resumes exactly where it stopped. */
export interface Checkpoint {
  /** Offset to resume from: the first record an open window still needs. */
  offset: number;
  streamTime: number;
  /** Next offset after the last processed record. */
  processedUpTo: number;
}

interface PartitionState {
  windows: PartitionWindows;
  nextOffset: number;
  lastRecordWall: number;
  lastAdvanceWall: number;
}

/**
 * The candle logic for all partitions of one instance, free of Kafka: the runtime feeds it records and
 * wall-clock ticks and commits what `checkpoint` says together with the outputs.
 */
export class CandleTask {
  private readonly partitions = new Map<number, PartitionState>();

  constructor(private readonly options: CandleTaskOptions) {}

  has(partition: number): boolean {
    return this.partitions.has(partition);
  }

  assigned(): number[] {
    return [...this.partitions.keys()];
  }

  /** Starts a partition, from a committed checkpoint or from scratch. */
  open(partition: number, checkpoint: Checkpoint | null, wallNowMs: number): void {
    const windows = new PartitionWindows(this.options.sizeMicros, this.options.graceMicros, this.options.alignOffsetMicros ?? 0);
    if (checkpoint) windows.restore(checkpoint.streamTime, checkpoint.processedUpTo);
    this.partitions.set(partition, {
      windows,
      // -1: nothing processed yet, so nothing to commit (the group's committed offset stays as it is).
      nextOffset: checkpoint?.processedUpTo ?? -1,
      lastRecordWall: wallNowMs,
      lastAdvanceWall: wallNowMs,
    });
  }

  /** Forgets a partition another instance now owns; its open windows are rebuilt there from the log. */
  close(partition: number): void {
    this.partitions.delete(partition);
  }

  process(partition: number, offset: number, trade: TradeInput, wallNowMs: number): AddResult {
    const p = this.partitions.get(partition);
    if (!p) throw new Error(`partition ${partition} is not open`);
    p.nextOffset = offset + 1;
    p.lastRecordWall = wallNowMs;
    return p.windows.add(trade, offset);
  }

  /** Records skipped without a trade (bad input sent to the DLQ) still move the offset. */
  skip(partition: number, offset: number): void {
    const p = this.partitions.get(partition);
    if (p) p.nextOffset = offset + 1;
  }

  /**
   * Partitions without input for `idleMs` that hold open windows: the runtime must confirm with the
   * broker that their logs hold nothing unprocessed before calling `punctuate` with them. A partition
   * that is merely behind (a slow or stalled consumer, a backfill) must not have its stream time pushed
   * by the wall clock, or its own pending trades would turn late.
   */
  idleCandidates(wallNowMs: number): Array<{ partition: number; nextOffset: number }> {
    const out: Array<{ partition: number; nextOffset: number }> = [];
    for (const [partition, p] of this.partitions) {
      if (wallNowMs - p.lastRecordWall < this.options.idleMs) continue;
      if (p.windows.openWindowCount === 0 || p.nextOffset < 0) continue;
      out.push({ partition, nextOffset: p.nextOffset });
    }
    return out;
  }

  /** Idle partitions (confirmed by the caller): stream time follows the wall clock, so a quiet market still closes windows. */
  punctuate(wallNowMs: number, idle: ReadonlySet<number>): void {
    for (const [partition, p] of this.partitions) {
      if (!idle.has(partition) || wallNowMs - p.lastRecordWall < this.options.idleMs) continue;
      if (p.windows.streamTime === Number.NEGATIVE_INFINITY) continue;
      const from = Math.max(p.lastAdvanceWall, p.lastRecordWall);
      if (wallNowMs > from) p.windows.advanceStreamTime(p.windows.streamTime + (wallNowMs - from) * 1000);
      p.lastAdvanceWall = wallNowMs;
    }
  }

  /** Final candles of every window closed by now, in window order per partition. */
  takeFinals(emittedAt: number): Candle[] {
    const out: Candle[] = [];
    for (const p of this.partitions.values()) for (const c of p.windows.closeWindows()) out.push(this.toCandle(c, true, emittedAt));
    return out;
  }

  /** In-progress versions of windows changed since the last call. */
  takeUpdates(emittedAt: number): Candle[] {
    const out: Candle[] = [];
    for (const p of this.partitions.values()) for (const c of p.windows.takeDirty()) out.push(this.toCandle(c, false, emittedAt));
    return out;
  }

  checkpoint(partition: number): Checkpoint | null {
    const p = this.partitions.get(partition);
    if (!p || p.nextOffset < 0) return null;
    // While replaying after a restart, keep the old boundary: records below it were already handled.
    const processedUpTo = Math.max(p.nextOffset, p.windows.replayBelow);
    return {
      offset: p.windows.commitOffset(p.nextOffset),
      streamTime: p.windows.streamTime,
      processedUpTo,
    };
  }

  openWindowCount(): number {
    let n = 0;
    for (const p of this.partitions.values()) n += p.windows.openWindowCount;
    return n;
  }

  private toCandle(c: CandleState, isFinal: boolean, emittedAt: number): Candle {
    return {
      symbol: c.symbol,
      interval: this.options.interval,
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
    };
  }
}

export function encodeCheckpointMetadata(c: Checkpoint): string {
  return JSON.stringify({ v: 1, st: Number.isFinite(c.streamTime) ? c.streamTime : null, hw: c.processedUpTo });
}

/** Parses what `encodeCheckpointMetadata` wrote; anything else means "no usable checkpoint". */
export function decodeCheckpointMetadata(offset: number, metadata: string | null | undefined): Checkpoint | null {
  if (offset < 0) return null;
  try {
    const m = JSON.parse(metadata ?? '') as { v?: number; st?: number | null; hw?: number };
    if (m.v !== 1 || typeof m.hw !== 'number') return null;
    return { offset, streamTime: m.st ?? Number.NEGATIVE_INFINITY, processedUpTo: m.hw };
  } catch {
    return null;
  }
}
