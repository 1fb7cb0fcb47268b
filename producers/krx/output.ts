import type { Kafka, Message, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { DeadLetterQueue } from '../../lib/dlq.js';
import { AppError } from '../../lib/errors.js';
import { createProducer, ensureTopics } from '../../lib/kafka.js';
import type { Logger } from '../../lib/logger.js';
import { Counter } from '../../lib/metrics.js';
import { AvroSerde, type WriterSchema } from '../../lib/serde.js';
import type { TopicCatalogue } from '../../lib/topics.js';
import { DailyBarSchema, StockSchema } from '../../schemas/generated/schemas.js';
import type { DailyBar, Stock } from '../../schemas/generated/types.js';
import { validateDailyBar, validateStock } from '../../schemas/validation.js';
import { badBodyOf } from './clients.js';

/**
 * Where the KRX pollers write: listings to the compacted `ref.stocks.v1`, daily bars to
 * `krx.daily-bars.v1` (both keyed by the 6-digit code), and bad KRX bodies — whole, with the
 * request that got them — to `dlq.krx-poller.v1`.
 */
export class KrxOutput {
  private constructor(
    private readonly producer: Producer,
    private readonly stocksWriter: WriterSchema<Stock>,
    private readonly barsWriter: WriterSchema<DailyBar>,
    private readonly dlq: DeadLetterQueue,
    readonly topics: { stocks: string; bars: string },
    private readonly barsCounter: Counter,
    private readonly stocksCounter: Counter,
  ) {}

  static async open(kafka: Kafka, catalogue: TopicCatalogue, registryUrl: string, metrics: Registry, logger: Logger): Promise<KrxOutput> {
    const dlqTopic = catalogue.dlq('krx-poller');
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [catalogue.stocks, catalogue.krxDailyBars, dlqTopic]);
    } finally {
      await admin.disconnect();
    }
    const serde = new AvroSerde(registryUrl);
    const stocksWriter = await serde.registerValueSchema<Stock>(catalogue.stocks.name, StockSchema);
    const barsWriter = await serde.registerValueSchema<DailyBar>(catalogue.krxDailyBars.name, DailyBarSchema);
    // Not idempotent on purpose: several days are in flight at once, and a re-sent bar is harmless
    // (sinks upsert on code and date); acks=-1 so a checkpoint never runs ahead of what Kafka holds.
    const producer = createProducer(kafka, { allowAutoTopicCreation: false });
    await producer.connect();
    return new KrxOutput(
      producer, stocksWriter, barsWriter,
      new DeadLetterQueue(dlqTopic.name, 'krx-poller', metrics, logger),
      { stocks: catalogue.stocks.name, bars: catalogue.krxDailyBars.name },
      new Counter({ name: 'krx_bars_published_total', help: 'daily bars acknowledged by Kafka', registers: [metrics] }),
      new Counter({ name: 'krx_stocks_published_total', help: 'listing versions acknowledged by Kafka', labelNames: ['kind'], registers: [metrics] }),
    );
  }

  async publishStocks(stocks: readonly Stock[]): Promise<void> {
    if (stocks.length === 0) return;
    const messages: Message[] = stocks.map((s) => ({ key: s.code, value: this.stocksWriter.encode(validateStock(s)) }));
    await this.producer.send({ topic: this.topics.stocks, acks: -1, messages });
    for (const s of stocks) this.stocksCounter.inc({ kind: s.delisted ? 'delisted' : 'listed' });
  }

  async publishBars(bars: readonly DailyBar[]): Promise<void> {
    if (bars.length === 0) return;
    const messages: Message[] = [];
    const rejected: Message[] = [];
    for (const b of bars) {
      try {
        messages.push({ key: b.code, value: this.barsWriter.encode(validateDailyBar(b)) });
      } catch (err) {
        // One odd row must not cost the day: it goes to the dead-letter topic as JSON, the rest on.
        rejected.push(this.dlq.record({ key: b.code, value: JSON.stringify(b) }, err as AppError));
      }
    }
    await this.producer.sendBatch({ acks: -1, topicMessages: [{ topic: this.topics.bars, messages }, ...(rejected.length > 0 ? [{ topic: this.dlq.topic, messages: rejected }] : [])] });
    this.barsCounter.inc(messages.length);
  }

  /** Keeps a bad body whole with its request; returns false for errors that are not bad bodies. */
  async deadLetter(err: unknown): Promise<boolean> {
    const body = badBodyOf(err);
    if (!body || !(err instanceof AppError)) return false;
    await this.dlq.send(this.producer, { key: body.request.slice(0, 200), value: body.body, context: { request: body.request, status: String(body.status) } }, err);
    return true;
  }

  close(): Promise<void> {
    return this.producer.disconnect();
  }
}
