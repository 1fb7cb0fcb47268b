import type { DeadLetterQueue } from '../../lib/dlq.js';
import { AppError } from '../../lib/errors.js';
import type { TopicPlacement } from '../../lib/kafka.js';
import type { Logger } from '../../lib/logger.js';
import type { Counter, Gauge, Histogram, Registry } from '../../lib/metrics.js';
import type { TopicSpec } from '../../lib/topics.js';
import type { Processor } from './processor.js';
import type { StoreSpec } from './store.js';

export interface InputSpec<In> {
  topic: TopicSpec;
  /**
   * Decodes and validates one value. Throwing a non-retryable AppError (DECODE_FAILED,
   * VALIDATION_FAILED) dead-letters the record; a retryable one restarts the session.
   */
  decode(value: Buffer | null): In | Promise<In>;
  /** Event time of a value, epoch microseconds. */
  timestamp(value: In): number;
}

export interface OutputSpec<V> {
  topic: TopicSpec;
  encode(value: V): Buffer;
}

export interface StreamAppOptions<In, Out> {
  applicationId: string;
  /** Stable per instance: part of the transactional id, so a restarted instance fences its old self. */
  instanceId: string;
  brokers: readonly string[];
  clientId: string;
  sessionTimeoutMs: number;
  transactionTimeoutMs: number;
  commitIntervalMs: number;
  /** The commit interval while the input is far behind its log end (default: commitIntervalMs). */
  catchUpCommitIntervalMs?: number;
  /** Input quiet this long (Kafka answering meanwhile) lets a partition's stream time follow the wall clock. */
  idleMs: number;
  input: InputSpec<In>;
  outputs: { [K in keyof Out & string]: OutputSpec<Out[K]> };
  stores?: readonly StoreSpec[];
  /** Late records go here byte for byte (with their source in headers); without it they are only counted. */
  lateTopic?: TopicSpec;
  deadLetters: { topic: TopicSpec; queue: DeadLetterQueue };
  processor: (partition: number) => Processor<In, Out>;
  /** Metric names: `<prefix>_<noun>_in_total`, `<prefix>_late_<noun>_total`, `<prefix>_transaction_seconds`, ... */
  metricPrefix: string;
  recordNoun: string;
  logger: Logger;
  metrics: Registry;
  /** Ends the service: only for processor bugs, never for Kafka being away. */
  fail(err: unknown): void;
  /** Waits between attempts to reconnect, the last one repeated (default 1, 2, 4, 5 s). */
  retryDelaysMs?: readonly number[];
  /** How long the Kafka clients retry an unreachable cluster (KAFKA_MAX_OUTAGE_MS). */
  maxOutageMs: number;
  /** Replication of the topics the application creates (default: the cluster's). */
  placement?: TopicPlacement;
}

/** What the supervisor needs of a session (the seam its tests use). */
export interface SessionLike {
  readonly running: boolean;
  /** False while the running session's consumer hears nothing from Kafka (kafkajs still retrying). */
  readonly reachable?: boolean;
  /** Resolves with the error that ended the session (null when closed on purpose). */
  readonly ended: Promise<unknown>;
  start(): Promise<void>;
  close(graceful: boolean): Promise<void>;
  assignedPartitions(): number[];
}

/** An exception thrown by processor code: a bug, not an outage, so the service stops instead of retrying. */
export class ProcessorFailure extends AppError {
  constructor(cause: unknown, partition: number) {
    super('INTERNAL', `processor failed on partition ${partition}: ${(cause as Error)?.message ?? String(cause)}`, { cause, context: { partition } });
  }
}

export interface Metrics {
  recordsIn: Counter;
  late: Counter;
  transaction: Histogram;
  restore: Histogram;
  sessionFailures: Counter;
  connected: Gauge;
}
