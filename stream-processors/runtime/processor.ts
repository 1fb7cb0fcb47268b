import type { KeyValueStore } from './store.js';

/**
 * The contract between a processor and the runtime (after Kafka Streams' Processor API).
 *
 * Time: event time and stream time are epoch microseconds; the wall clock is epoch milliseconds.
 * One processor instance serves one input partition (a task); the runtime calls it from one
 * logical thread, never concurrently.
 */

/** One input record. The runtime reuses the object: read it inside `process`, never keep it. */
export interface InRecord<In> {
  readonly value: In;
  readonly key: string | null;
  /** Event time, epoch microseconds. */
  readonly timestamp: number;
  readonly partition: number;
  readonly offset: number;
  /**
   * True while re-reading input that was processed before a restart (the processor retained it, see
   * `Processor.retainedFrom`). State in changelogged stores already includes it; outputs derived only
   * from rebuilt in-memory state are the processor's to decide.
   */
  readonly replay: boolean;
}

/** `late`: the record belongs to state already closed; the runtime routes it to the late topic and counts it. */
export type ProcessResult = void | 'late';

export type PunctuationType = 'stream-time' | 'wall-clock';
export type Cancel = () => void;

export interface ProcessorContext<Out> {
  readonly partition: number;
  /** Largest event time accepted on this partition (or advanced while idle); -Infinity before any. */
  streamTime(): number;
  /** The runtime's wall clock in epoch ms (the test driver's is virtual). */
  wallClockMs(): number;
  /** Emits a record to a declared output; it is committed with the input offsets, exactly once. */
  forward<K extends keyof Out & string>(output: K, key: string, value: Out[K], timestampMicros?: number): void;
  /**
   * Calls `fn` when stream time crosses a multiple of `every` µs ('stream-time'; records and idle
   * advances move it), or every `every` ms of wall-clock time ('wall-clock').
   */
  schedule(every: number, type: PunctuationType, fn: (now: number) => void): Cancel;
  /** A store declared with the runtime: owned, changelogged and restored by it. */
  store<V>(name: string): KeyValueStore<V>;
}

export interface Processor<In, Out> {
  init(ctx: ProcessorContext<Out>): void;
  process(record: InRecord<In>): ProcessResult;
  /**
   * Lowest input offset that state kept outside the stores still needs after a restart (e.g. open
   * windows rebuilt by re-reading their input); undefined when none. The runtime never commits past it.
   */
  retainedFrom?(): number | undefined;
  /**
   * True while it holds state that only stream time will close (open windows). An idle partition's
   * stream time follows the wall clock only then, so a quiet night does not move it (default: always).
   */
  awaitsStreamTime?(): boolean;
  close?(): void;
}

/** Output records by output name, as forwarded (the driver keeps them; the Kafka runtime encodes them). */
export type Emit = (output: string, key: string, value: unknown, timestampMicros: number | undefined) => void;
