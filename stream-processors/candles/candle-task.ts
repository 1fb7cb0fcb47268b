import type { Candle } from '../../schemas/generated/types.js';
import { PartitionTask } from '../runtime/task.js';
import type { Checkpoint } from '../runtime/checkpoint.js';
import { CandleProcessor, type CandleOutputs } from './processor.js';
import type { AddResult, TradeInput } from './windows.js';

export { decodeCheckpointMetadata, encodeCheckpointMetadata, type Checkpoint } from '../runtime/checkpoint.js';

export interface CandleTaskOptions {
  interval: string;
  sizeMicros: number;
  graceMicros: number;
  /** After this long without records, a partition's stream time follows the wall clock. */
  idleMs: number;
  alignOffsetMicros?: number;
}

interface OpenPartition {
  task: PartitionTask<TradeInput, CandleOutputs>;
  processor: CandleProcessor;
}

/**
 * The candle processor on the runtime's Kafka-free core for several partitions at once, with the
 * clock and the idle confirmation in the caller's hands: the Kafka runtime's contract made explicit
 * for tests (one PartitionTask per partition, exactly as the runtime drives them).
 */
export class CandleTask {
  private readonly partitions = new Map<number, OpenPartition>();
  private finals: Candle[] = [];
  private updates: Candle[] = [];

  constructor(private readonly options: CandleTaskOptions) {}

  has(partition: number): boolean {
    return this.partitions.has(partition);
  }

  assigned(): number[] {
    return [...this.partitions.keys()];
  }

  /** Starts a partition, from a committed checkpoint or from scratch. */
  open(partition: number, checkpoint: Checkpoint | null, wallNowMs: number): void {
    // Updates are taken on demand (takeUpdates), never on the wall clock here.
    const processor = new CandleProcessor({ ...this.options, updateIntervalMs: Number.MAX_SAFE_INTEGER });
    const task = new PartitionTask<TradeInput, CandleOutputs>(partition, processor, [], { idleMs: this.options.idleMs }, (_output, _key, value) => {
      const c = value as Candle;
      (c.isFinal ? this.finals : this.updates).push(c);
    }, wallNowMs);
    task.start(checkpoint);
    this.partitions.set(partition, { task, processor });
  }

  /** Forgets a partition another instance now owns; its open windows are rebuilt there from the log. */
  close(partition: number): void {
    this.partitions.get(partition)?.task.close();
    this.partitions.delete(partition);
  }

  process(partition: number, offset: number, trade: TradeInput, wallNowMs: number): AddResult {
    const result = this.open_(partition).task.process(offset, trade.symbol, trade, trade.time, wallNowMs);
    return result === 'replayed-late' || result === 'held' ? 'already-processed' : result;
  }

  /** Records skipped without a trade (bad input sent to the DLQ) still move the offset. */
  skip(partition: number, offset: number): void {
    this.partitions.get(partition)?.task.skip(offset);
  }

  /** Partitions without input for `idleMs` that hold open windows: the caller confirms them idle with the broker. */
  idleCandidates(wallNowMs: number): Array<{ partition: number; nextOffset: number }> {
    const out: Array<{ partition: number; nextOffset: number }> = [];
    for (const [partition, p] of this.partitions) {
      const nextOffset = p.task.idleCandidate(wallNowMs);
      if (nextOffset !== null) out.push({ partition, nextOffset });
    }
    return out;
  }

  /** Idle partitions (confirmed by the caller): stream time follows the wall clock, so a quiet market still closes windows. */
  punctuate(wallNowMs: number, idle: ReadonlySet<number>): void {
    for (const partition of idle) this.partitions.get(partition)?.task.advanceIdle(wallNowMs);
  }

  /** Final candles of every window closed by now, in window order per partition. */
  takeFinals(emittedAt: number): Candle[] {
    const out = this.finals.map((c) => ({ ...c, emittedAt }));
    this.finals = [];
    return out;
  }

  /** In-progress versions of windows changed since the last call. */
  takeUpdates(emittedAt: number): Candle[] {
    for (const p of this.partitions.values()) p.processor.emitUpdates();
    const out = this.updates.map((c) => ({ ...c, emittedAt }));
    this.updates = [];
    return out;
  }

  checkpoint(partition: number): Checkpoint | null {
    return this.partitions.get(partition)?.task.checkpoint() ?? null;
  }

  openWindowCount(): number {
    let n = 0;
    for (const p of this.partitions.values()) n += p.processor.openWindowCount;
    return n;
  }

  private open_(partition: number): OpenPartition {
    const p = this.partitions.get(partition);
    if (!p) throw new Error(`partition ${partition} is not open`);
    return p;
  }
}
