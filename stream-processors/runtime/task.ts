import type { Checkpoint } from './checkpoint.js';
import type { Cancel, Emit, InRecord, Processor, ProcessorContext, PunctuationType } from './processor.js';
import { KeyValueStore, type ChangelogEntry, type StoreSpec } from './store.js';

export interface TaskOptions {
  /** After this long without input, a partition's stream time may follow the wall clock (once confirmed idle). */
  idleMs: number;
}

/**
 * What happened to one record: `replayed-late` is a late record already routed before a restart;
 * `held` a record this task has already processed (fetched again after a rebalance), skipped.
 */
export type TaskResult = 'accepted' | 'late' | 'replayed-late' | 'held';

interface Punctuator {
  every: number;
  next: number;
  fn: (now: number) => void;
  cancelled: boolean;
}

/** A record object reused for every call: processors must not keep it (see InRecord). */
class MutableRecord<In> implements InRecord<In> {
  value = undefined as In;
  rawKey: string | Buffer | null = null;
  timestamp = 0;
  offset = 0;
  replay = false;
  constructor(readonly partition: number) {}
  /** Decoded only when a processor asks: most never do. */
  get key(): string | null {
    return typeof this.rawKey === 'string' || this.rawKey === null ? this.rawKey : this.rawKey.toString('utf8');
  }
}

/**
 * One input partition's processor, stores, stream time and offsets, free of Kafka: the Kafka runtime
 * and the test driver both drive it. Contract: `restore` every store, then `start`; then records in
 * offset order (`process` / `skip`), wall-clock ticks (`punctuateWall`), confirmed idleness
 * (`advanceIdle`); `checkpoint` and `takeChangelog` say what to commit with the outputs.
 */
export class PartitionTask<In, Out> {
  private readonly stores = new Map<string, KeyValueStore<unknown>>();
  private readonly streamPunctuators: Punctuator[] = [];
  private readonly wallPunctuators: Punctuator[] = [];
  private readonly record: MutableRecord<In>;
  private streamTime = Number.NEGATIVE_INFINITY;
  /** -1: nothing processed and nothing restored, so nothing to commit. */
  private nextOffset = -1;
  /** Records below this offset were processed before a restart (the committed processedUpTo). */
  private replayBelow = -1;
  private lastRecordWall: number;
  private lastAdvanceWall: number;
  private wallNow: number;
  private started = false;

  constructor(
    readonly partition: number,
    private readonly processor: Processor<In, Out>,
    storeSpecs: readonly StoreSpec[],
    private readonly options: TaskOptions,
    private readonly emit: Emit,
    wallNowMs: number,
  ) {
    for (const spec of storeSpecs) this.stores.set(spec.name, new KeyValueStore(spec));
    this.record = new MutableRecord(partition);
    this.lastRecordWall = wallNowMs;
    this.lastAdvanceWall = wallNowMs;
    this.wallNow = wallNowMs;
  }

  /** The store to apply changelog records to while restoring. */
  storeForRestore(name: string): KeyValueStore<unknown> {
    const s = this.stores.get(name);
    if (!s) throw new Error(`unknown store ${name}`);
    return s;
  }

  /** Starts the processor on restored stores, from a committed checkpoint or from scratch. */
  start(checkpoint: Checkpoint | null): void {
    if (checkpoint) {
      this.streamTime = checkpoint.streamTime;
      this.replayBelow = checkpoint.processedUpTo;
      // Until replay moves on, the checkpoint to commit is the one restored: never past retained input.
      this.nextOffset = checkpoint.offset;
    }
    const ctx: ProcessorContext<Out> = {
      partition: this.partition,
      streamTime: () => this.streamTime,
      wallClockMs: () => this.wallNow,
      forward: (output, key, value, timestamp) => this.emit(output, key, value, timestamp),
      schedule: (every, type, fn) => this.schedule(every, type, fn),
      store: <V>(name: string) => this.storeForRestore(name) as KeyValueStore<V>,
    };
    this.processor.init(ctx);
    this.started = true;
  }

  get isStarted(): boolean {
    return this.started;
  }

  process(offset: number, key: string | Buffer | null, value: In, timestamp: number, wallNowMs: number): TaskResult {
    if (offset < this.nextOffset) return 'held';
    const r = this.record;
    r.value = value;
    r.rawKey = key;
    r.timestamp = timestamp;
    r.offset = offset;
    r.replay = offset < this.replayBelow;
    this.nextOffset = offset + 1;
    this.lastRecordWall = wallNowMs;
    this.wallNow = wallNowMs;
    if (this.processor.process(r) === 'late') return r.replay ? 'replayed-late' : 'late';
    if (timestamp > this.streamTime) {
      this.streamTime = timestamp;
      this.punctuateStream();
    }
    return 'accepted';
  }

  /**
   * A record that is not processed (dead-lettered) still moves the offset. Records below the next
   * expected offset are skipped by `process` and `reject`: a consumer re-seeks to the committed offset
   * after every rebalance, so they can come again within one session, and the state already has them.
   */
  skip(offset: number): void {
    this.nextOffset = offset + 1;
  }

  /**
   * A record that does not decode or validate: skipped, and true when it must be dead-lettered now —
   * false when it was dead-lettered before a restart (below the committed processedUpTo).
   */
  reject(offset: number): boolean {
    if (offset < this.nextOffset) return false;
    this.skip(offset);
    return offset >= this.replayBelow;
  }

  /** The next offset this task expects (-1 before any). */
  get nextExpectedOffset(): number {
    return this.nextOffset;
  }

  /** True for an offset processed before the restart: its dead-lettering is already committed. */
  isReplay(offset: number): boolean {
    return offset < this.replayBelow;
  }

  /**
   * The next offset to confirm with the broker when the partition has had no input for `idleMs`;
   * null otherwise. A partition that is merely behind its log (a slow consumer, a backfill) must not
   * have its stream time pushed by the wall clock, or its own pending records would turn late.
   */
  idleCandidate(wallNowMs: number): number | null {
    if (wallNowMs - this.lastRecordWall < this.options.idleMs) return null;
    if (this.nextOffset < 0 || this.streamTime === Number.NEGATIVE_INFINITY) return null;
    if (this.processor.awaitsStreamTime && !this.processor.awaitsStreamTime()) return null;
    return this.nextOffset;
  }

  /** Confirmed idle: stream time follows the wall clock from the last record, so quiet input still closes state. */
  advanceIdle(wallNowMs: number): void {
    if (wallNowMs - this.lastRecordWall < this.options.idleMs) return;
    if (this.streamTime === Number.NEGATIVE_INFINITY) return;
    this.wallNow = wallNowMs;
    const from = Math.max(this.lastAdvanceWall, this.lastRecordWall);
    if (wallNowMs > from) {
      this.streamTime += (wallNowMs - from) * 1000;
      this.punctuateStream();
    }
    this.lastAdvanceWall = wallNowMs;
  }

  /**
   * Kafka did not answer for `ms`: nothing could have arrived, so that time is not quiet input. Without
   * this, a broker outage longer than `idleMs` pushed stream time past every record held by producers
   * during the outage, and all of them came in late.
   */
  excludeFromIdle(ms: number): void {
    this.lastRecordWall += ms;
    this.lastAdvanceWall += ms;
  }

  punctuateWall(wallNowMs: number): void {
    this.wallNow = wallNowMs;
    for (const p of this.wallPunctuators) {
      if (p.cancelled || wallNowMs < p.next) continue;
      // At a fixed rate: the runtime's ticks come late by up to their own period, and counting the
      // next one from the late tick made a 250 ms schedule fire every 265-300 ms. A tick later than a
      // whole period (a pause) fires once and keeps the schedule's phase.
      p.next += p.every;
      if (p.next <= wallNowMs) p.next = wallNowMs + p.every - ((wallNowMs - p.next) % p.every);
      p.fn(wallNowMs);
    }
  }

  checkpoint(): Checkpoint | null {
    if (this.nextOffset < 0) return null;
    const retained = this.processor.retainedFrom?.();
    return {
      offset: retained !== undefined && retained < this.nextOffset ? retained : this.nextOffset,
      streamTime: this.streamTime,
      // While replaying after a restart, keep the old boundary: records below it were already handled.
      processedUpTo: Math.max(this.nextOffset, this.replayBelow),
    };
  }

  /** Changelog records since the last call, per store. */
  takeChangelog(): Array<{ store: string; entries: ChangelogEntry[] }> {
    const out: Array<{ store: string; entries: ChangelogEntry[] }> = [];
    for (const [name, s] of this.stores) if (s.hasChanges) out.push({ store: name, entries: s.takeChanges() });
    return out;
  }

  close(): void {
    this.processor.close?.();
  }

  private schedule(every: number, type: PunctuationType, fn: (now: number) => void): Cancel {
    if (!(every > 0)) throw new Error(`punctuation interval must be positive, got ${every}`);
    const p: Punctuator = { every, next: type === 'wall-clock' ? this.wallNow + every : Number.NEGATIVE_INFINITY, fn, cancelled: false };
    const list = type === 'wall-clock' ? this.wallPunctuators : this.streamPunctuators;
    list.push(p);
    return () => {
      p.cancelled = true;
      list.splice(list.indexOf(p), 1);
    };
  }

  private punctuateStream(): void {
    const now = this.streamTime;
    for (const p of this.streamPunctuators) {
      if (now < p.next) continue;
      p.next = Math.floor(now / p.every) * p.every + p.every;
      p.fn(now);
    }
  }
}
