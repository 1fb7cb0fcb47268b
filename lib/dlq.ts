import type { IHeaders, Message, Producer } from 'kafkajs';
import { Counter, type Registry } from 'prom-client';
import type { AppError } from './errors.js';
import type { Logger } from './logger.js';

/** Where a bad record came from: enough to find it again and to replay it after a fix. */
export interface DeadLetterSource {
  topic?: string;
  partition?: number;
  offset?: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: IHeaders;
  /** Extra facts (a frame's TR id, a field index); strings only so they fit into headers. */
  context?: Record<string, string>;
}

/** Header names follow Kafka Connect's DLQ context headers, so existing tooling can read them. */
export const DLQ_HEADERS = {
  code: 'kmarket.dlq.error.code',
  message: 'kmarket.dlq.error.message',
  stage: 'kmarket.dlq.stage',
  topic: 'kmarket.dlq.source.topic',
  partition: 'kmarket.dlq.source.partition',
  offset: 'kmarket.dlq.source.offset',
  time: 'kmarket.dlq.time',
} as const;

/**
 * Sends bad input to `dlq.<stage>.v1` byte for byte with the reason in headers, counts it, and
 * logs it — rate-limited, so a flood of bad input cannot flood the log.
 */
export class DeadLetterQueue {
  private logged = 0;
  private suppressed = 0;
  private windowStart = Date.now();

  private readonly counter: Counter<'stage' | 'code'>;

  constructor(
    readonly topic: string,
    private readonly stage: string,
    metrics: Registry,
    private readonly logger: Logger,
    private readonly maxLogsPer10s = 20,
  ) {
    const name = 'kmarket_dead_letters_total';
    this.counter = (metrics.getSingleMetric(name) as Counter<'stage' | 'code'> | undefined) ??
      new Counter({ name, help: 'bad records sent to a dead-letter topic', labelNames: ['stage', 'code'], registers: [metrics] });
  }

  /** Sends one bad record on its own (services without a transaction). */
  async send(producer: Producer, source: DeadLetterSource, error: AppError): Promise<void> {
    await producer.send({ topic: this.topic, acks: -1, messages: [this.record(source, error)] });
  }

  /** Counts and logs a bad record and returns the message to send, e.g. inside a transaction. */
  record(source: DeadLetterSource, error: AppError): Message {
    this.counter.inc({ stage: this.stage, code: error.code });
    this.log(source, error);
    const headers: IHeaders = {
      ...(source.headers ?? {}),
      [DLQ_HEADERS.code]: error.code,
      [DLQ_HEADERS.message]: error.message.slice(0, 2000),
      [DLQ_HEADERS.stage]: this.stage,
      [DLQ_HEADERS.time]: new Date().toISOString(),
    };
    if (source.topic !== undefined) headers[DLQ_HEADERS.topic] = source.topic;
    if (source.partition !== undefined) headers[DLQ_HEADERS.partition] = String(source.partition);
    if (source.offset !== undefined) headers[DLQ_HEADERS.offset] = source.offset;
    for (const [k, v] of Object.entries(source.context ?? {})) headers[`kmarket.dlq.context.${k}`] = v;
    return { key: source.key, value: source.value, headers };
  }

  private log(source: DeadLetterSource, error: AppError): void {
    const now = Date.now();
    if (now - this.windowStart > 10_000) {
      if (this.suppressed > 0) {
        this.logger.warn({ suppressed: this.suppressed, dlq: this.topic }, 'dead-lettered records not logged individually');
      }
      this.windowStart = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (this.logged >= this.maxLogsPer10s) {
      this.suppressed++;
      return;
    }
    this.logged++;
    this.logger.warn(
      {
        code: error.code,
        dlq: this.topic,
        source: { topic: source.topic, partition: source.partition, offset: source.offset, ...source.context },
        bytes: source.value?.length ?? 0,
        err: error,
      },
      `bad input sent to the dead-letter topic: ${error.message}`,
    );
  }
}
