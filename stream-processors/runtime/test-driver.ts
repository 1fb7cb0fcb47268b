import type { Checkpoint } from './checkpoint.js';
import type { Processor } from './processor.js';
import type { KeyValueStore, StoreSpec } from './store.js';
import { PartitionTask, type TaskResult } from './task.js';

export interface TestDriverOptions<In, Out> {
  processor: (partition: number) => Processor<In, Out>;
  stores?: readonly StoreSpec[];
  partitions?: number;
  idleMs?: number;
  /** Virtual wall clock at the start, epoch ms. */
  wallClockMs?: number;
}

export interface DriverRecord {
  output: string;
  partition: number;
  key: string;
  value: unknown;
  timestamp: number | undefined;
}

interface InputRecord<In> {
  key: string | null;
  value: In;
  timestamp: number;
  /** A record that does not decode or validate (the Kafka runtime's input spec throws for it). */
  bad?: boolean;
}

/**
 * Runs processors on the runtime's core without a broker (after Kafka Streams' TopologyTestDriver):
 * pipe records into partitions, advance the wall clock, read outputs and stores. It keeps what the
 * Kafka runtime keeps in Kafka — the input log, committed checkpoints, compacted changelogs and
 * committed outputs — so `crash()` and `revoke()` replay exactly what a restart would.
 */
export class TestDriver<In, Out> {
  private wallMs: number;
  private readonly idleMs: number;
  private readonly logs: Array<Array<InputRecord<In>>>;
  private readonly tasks = new Map<number, PartitionTask<In, Out>>();
  private readonly checkpoints = new Map<number, Checkpoint>();
  /** partition → store → key → latest value (a compacted changelog topic). */
  private readonly changelogs = new Map<number, Map<string, Map<string, Buffer>>>();
  private committedOut: DriverRecord[] = [];
  private pendingOut: DriverRecord[] = [];
  private committedLate: Array<{ partition: number; offset: number }> = [];
  private pendingLate: Array<{ partition: number; offset: number }> = [];
  private committedDead: Array<{ partition: number; offset: number }> = [];
  private pendingDead: Array<{ partition: number; offset: number }> = [];

  constructor(private readonly options: TestDriverOptions<In, Out>) {
    this.wallMs = options.wallClockMs ?? 0;
    this.idleMs = options.idleMs ?? 1000;
    this.logs = Array.from({ length: options.partitions ?? 1 }, () => []);
    for (let p = 0; p < this.logs.length; p++) this.assign(p);
  }

  get wallClockMs(): number {
    return this.wallMs;
  }

  /** A partition's stream time (µs), as its next checkpoint would record it. */
  streamTime(partition: number): number | undefined {
    return this.tasks.get(partition)?.checkpoint()?.streamTime;
  }

  /** Appends a record to a partition's log and processes it if the partition is assigned. */
  pipe(partition: number, key: string | null, value: In, timestamp: number): TaskResult | 'unassigned' {
    const log = this.log(partition);
    log.push({ key, value, timestamp });
    const task = this.tasks.get(partition);
    return task ? this.feed(task, log.length - 1) : 'unassigned';
  }

  /** Appends a record that does not decode: it is dead-lettered (once, also across restarts). */
  pipeBad(partition: number): 'dead-lettered' | 'already-dead-lettered' | 'unassigned' {
    const log = this.log(partition);
    log.push({ key: null, value: undefined as In, timestamp: 0, bad: true });
    const task = this.tasks.get(partition);
    if (!task) return 'unassigned';
    return this.feed(task, log.length - 1) === 'late' ? 'dead-lettered' : 'already-dead-lettered';
  }

  /** Moves the virtual wall clock: wall-clock punctuators fire, and caught-up partitions idle past `idleMs` follow it. */
  advanceWallClock(ms: number, stepMs = Math.min(ms, 50)): void {
    const end = this.wallMs + ms;
    while (this.wallMs < end) {
      this.wallMs = Math.min(end, this.wallMs + stepMs);
      for (const task of this.tasks.values()) {
        task.punctuateWall(this.wallMs);
        // Every piped record is processed at once here, so an idle candidate is idle.
        if (task.idleCandidate(this.wallMs) !== null) task.advanceIdle(this.wallMs);
      }
    }
  }

  /**
   * The broker does not answer for `ms`, then does again (the session's contract): the wall clock
   * moves and wall-clock punctuators fire, but no partition idles meanwhile, and the outage does not
   * count as quiet input afterwards.
   */
  kafkaAway(ms: number, stepMs = Math.min(ms, 50)): void {
    const end = this.wallMs + ms;
    while (this.wallMs < end) {
      this.wallMs = Math.min(end, this.wallMs + stepMs);
      for (const task of this.tasks.values()) task.punctuateWall(this.wallMs);
    }
    for (const task of this.tasks.values()) task.excludeFromIdle(ms);
  }

  /** One transaction: pending outputs, changelog records and checkpoints become committed together. */
  commit(): void {
    for (const [partition, task] of this.tasks) {
      const cp = task.checkpoint();
      if (cp) this.checkpoints.set(partition, cp);
      for (const { store, entries } of task.takeChangelog()) {
        const log = this.changelog(partition, store);
        for (const e of entries) {
          if (e.value === null) log.delete(e.key);
          else log.set(e.key, e.value);
        }
      }
    }
    this.committedOut.push(...this.pendingOut);
    this.committedLate.push(...this.pendingLate);
    this.committedDead.push(...this.pendingDead);
    this.pendingOut = [];
    this.pendingLate = [];
    this.pendingDead = [];
  }

  /** The consumer fetches a partition again from `fromOffset`, as kafkajs does after every rebalance. */
  redeliver(partition: number, fromOffset: number): TaskResult[] {
    const task = this.tasks.get(partition);
    if (!task) return [];
    const results: TaskResult[] = [];
    for (let offset = fromOffset; offset < this.log(partition).length; offset++) results.push(this.feed(task, offset));
    return results;
  }

  /** The process dies: everything uncommitted is lost; every partition is restored and replayed. */
  crash(): void {
    this.tasks.clear();
    this.pendingOut = [];
    this.pendingLate = [];
    this.pendingDead = [];
    for (let p = 0; p < this.logs.length; p++) this.assign(p);
  }

  /** The partition moves away: flush and commit first, then stop processing it. */
  revoke(partition: number): void {
    this.commit();
    this.tasks.get(partition)?.close();
    this.tasks.delete(partition);
  }

  /** Takes a partition: restore its stores from the changelog, then replay its log from the checkpoint. */
  assign(partition: number): void {
    if (this.tasks.has(partition)) return;
    const task = new PartitionTask<In, Out>(
      partition,
      this.options.processor(partition),
      this.options.stores ?? [],
      { idleMs: this.idleMs },
      (output, key, value, timestamp) => this.pendingOut.push({ output, partition, key, value, timestamp }),
      this.wallMs,
    );
    for (const spec of this.options.stores ?? []) {
      const store = task.storeForRestore(spec.name);
      for (const [k, v] of this.changelog(partition, spec.name)) store.restore(k, v);
    }
    const cp = this.checkpoints.get(partition) ?? null;
    task.start(cp);
    this.tasks.set(partition, task);
    const log = this.log(partition);
    for (let offset = cp?.offset ?? 0; offset < log.length; offset++) this.feed(task, offset);
  }

  isAssigned(partition: number): boolean {
    return this.tasks.has(partition);
  }

  /** Records forwarded to `output`, committed ones first; with `committed`, only what a read_committed reader sees. */
  output(output: string, opts: { committed?: boolean } = {}): DriverRecord[] {
    const all = opts.committed ? this.committedOut : [...this.committedOut, ...this.pendingOut];
    return all.filter((r) => r.output === output);
  }

  /** Late records routed so far (partition, offset), as the late topic holds them. */
  late(opts: { committed?: boolean } = {}): Array<{ partition: number; offset: number }> {
    return opts.committed ? [...this.committedLate] : [...this.committedLate, ...this.pendingLate];
  }

  /** Dead-lettered records (partition, offset), as the dead-letter topic holds them. */
  deadLetters(opts: { committed?: boolean } = {}): Array<{ partition: number; offset: number }> {
    return opts.committed ? [...this.committedDead] : [...this.committedDead, ...this.pendingDead];
  }

  store<V>(partition: number, name: string): KeyValueStore<V> {
    const task = this.tasks.get(partition);
    if (!task) throw new Error(`partition ${partition} is not assigned`);
    return task.storeForRestore(name) as KeyValueStore<V>;
  }

  checkpoint(partition: number): Checkpoint | null {
    return this.tasks.get(partition)?.checkpoint() ?? null;
  }

  private feed(task: PartitionTask<In, Out>, offset: number): TaskResult {
    const r = this.log(task.partition)[offset] as InputRecord<In>;
    if (r.bad) {
      if (offset < task.nextExpectedOffset) return 'held';
      if (!task.reject(offset)) return 'replayed-late';
      this.pendingDead.push({ partition: task.partition, offset });
      return 'late';
    }
    const result = task.process(offset, r.key, r.value, r.timestamp, this.wallMs);
    if (result === 'late') this.pendingLate.push({ partition: task.partition, offset });
    return result;
  }

  private log(partition: number): Array<InputRecord<In>> {
    const log = this.logs[partition];
    if (!log) throw new Error(`no partition ${partition}`);
    return log;
  }

  private changelog(partition: number, store: string): Map<string, Buffer> {
    let byStore = this.changelogs.get(partition);
    if (!byStore) {
      byStore = new Map();
      this.changelogs.set(partition, byStore);
    }
    let log = byStore.get(store);
    if (!log) {
      log = new Map();
      byStore.set(store, log);
    }
    return log;
  }
}
