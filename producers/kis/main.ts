import type { Message, Producer } from 'kafkajs';
import { defineConfig } from '../../lib/config.js';
import { DeadLetterQueue } from '../../lib/dlq.js';
import { createKafka, createProducer, ensureTopics, kafkaConfigSpec } from '../../lib/kafka.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { topicCatalogue } from '../../lib/topics.js';
import { OrderBookSchema, TickSchema } from '../../schemas/generated/schemas.js';
import type { OrderBook, Tick } from '../../schemas/generated/types.js';
import { kisConfigSpec, resolveKisSettings } from './config.js';
import { FrameProcessor } from './frame-processor.js';
import { createKisMetrics } from './metrics.js';
import { KafkaOutput } from './output.js';
import { PartitionRouter } from './partition-router.js';
import { Spool } from './spool.js';
import { SpoolingSink } from './spooling-sink.js';
import { KisSessions } from './sessions.js';
import { SymbolSource } from './symbols.js';
import { trSpec } from './trs.js';
import { WorkerProducer } from './worker-producer.js';

const config = defineConfig({ ...kafkaConfigSpec, ...registryConfigSpec, ...kisConfigSpec });

/** Dead-letter stage name: bad frames go to dlq.kis-producer.v1. */
const STAGE = 'kis-producer';
/** Longest back-off between two tries of a failed produce request (a broker that is back is used within this). */
const PRODUCE_RETRY_MAX_MS = 5_000;
/** At shutdown, how long Kafka may take to acknowledge what is in memory before it is written to the spool. */
const SHUTDOWN_FLUSH_MS = 5_000;

await runService({
  name: 'kis-producer',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, fail }) {
    const settings = resolveKisSettings(c);
    const topics = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const wantsBooks = settings.trs.some((t) => trSpec(t)?.kind === 'book');
    const kafka = createKafka({ brokers: c.brokers, clientId: c.clientId ?? 'kis-producer', logger, maxOutageMs: c.maxOutageMs });
    const admin = kafka.admin();
    await admin.connect();
    const outputTopics = [topics.ticks, ...(wantsBooks ? [topics.orderbook] : []), topics.rawKis, topics.dlq(STAGE)];
    await ensureTopics(admin, outputTopics, c);

    const serde = new AvroSerde(c.registryUrl);
    const tickWriter = await serde.registerValueSchema<Tick>(topics.ticks.name, TickSchema);
    const bookWriter = wantsBooks ? await serde.registerValueSchema<OrderBook>(topics.orderbook.name, OrderBookSchema) : null;

    const clientId = c.clientId ?? 'kis-producer';
    let senders: Array<Pick<Producer, 'sendBatch' | 'disconnect'>>;
    let route: ((topic: string, message: Message) => number) | undefined;
    if (c.producerThreads > 0) {
      const output = { maxBatchBytes: c.maxBatchBytes, maxBatchMessages: c.maxBatchMessages, lingerMs: c.lingerMs, retryMaxMs: PRODUCE_RETRY_MAX_MS };
      senders = await Promise.all(Array.from({ length: c.producerThreads }, (_, i) => WorkerProducer.start({ brokers: [...c.brokers], clientId: `${clientId}-${i}`, service: 'kis-producer', output })));
      const metadata = await admin.fetchTopicMetadata({ topics: outputTopics.map((t) => t.name) });
      const router = new PartitionRouter(new Map(metadata.topics.map((t) => [t.name, t.partitions.length])), senders.length);
      route = (topic, message) => router.route(topic, message);
    } else {
      const p = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
      await p.connect();
      senders = [p];
    }
    await admin.disconnect();
    lifecycle.onShutdown('producers', async () => {
      await Promise.all(senders.map((s) => s.disconnect()));
    });

    const kisMetrics = createKisMetrics(metrics);
    const dlq = new DeadLetterQueue(topics.dlq(STAGE).name, STAGE, metrics, logger);
    let spooling: SpoolingSink | null = null;
    // Kafka pushing back starts spooling instead of pausing the WebSocket reads (KIS does not replay).
    const output = new KafkaOutput(senders, { maxBatchBytes: c.maxBatchBytes, maxBatchMessages: c.maxBatchMessages, lingerMs: c.lingerMs, highWater: c.maxPending, retryMaxMs: PRODUCE_RETRY_MAX_MS }, kisMetrics, logger, {
      onPressure: (paused) => spooling?.pressure(paused),
      onFatal: (err) => fail(err),
      onFramesSettled: (count) => spooling?.settled(count),
    }, route);
    const spool = Spool.open({ dir: c.spoolDir, maxBytes: c.spoolMaxBytes, segmentBytes: c.spoolSegmentBytes });
    const buffered = new SpoolingSink(output, spool, { maxBufferBytes: c.bufferMaxBytes, maxBufferAgeMs: c.bufferMaxAgeMs, fsyncMs: c.spoolFsyncMs }, kisMetrics, logger);
    spooling = buffered;
    buffered.start();
    const processor = new FrameProcessor({
      sink: buffered,
      topics: { ticks: topics.ticks.name, orderbook: topics.orderbook.name, raw: topics.rawKis.name },
      encodeTick: (t) => tickWriter.encode(t),
      // Only subscribed TRs arrive, so without a book TR this is never called.
      encodeBook: (b) => (bookWriter as NonNullable<typeof bookWriter>).encode(b),
      dlq,
      metrics: kisMetrics,
    });

    const sessions = new KisSessions({
      credentials: settings.credentials,
      restUrl: settings.restUrl,
      wsUrl: settings.wsUrl,
      trs: settings.trs,
      custType: c.custType,
      maxRegistrations: c.maxRegistrations,
      backoff: { baseMs: c.reconnectBaseMs, maxMs: c.reconnectMaxMs },
      slotHoldMs: c.slotHoldMs,
      stableMs: c.stableMs,
      ackTimeoutMs: c.ackTimeoutMs,
      idleTimeoutMs: c.idleTimeoutMs,
      requestIntervalMs: c.requestIntervalMs,
      budgets: {
        windowMs: c.budgetWindowMs,
        connectsPerKey: c.connectsPerKey,
        connectsPerProcess: c.connectsPerProcess,
        subscribesPerKey: c.subscribesPerKey,
        subscribesPerProcess: c.subscribesPerProcess,
      },
      pausedBacklogBytes: c.pausedBacklogBytes,
      logger,
      metrics: kisMetrics,
      onData: (text, micros, session) => processor.handle(text, micros, (trId) => session.cipherFor(trId), session.index),
      onUnreadable: (text, micros, err, session) => processor.unreadable(text, micros, err, session),
    });
    const kis = sessions;
    // Shutdown order (hooks run last-registered-first): stop reading, flush what was read (or spool it), disconnect.
    lifecycle.onShutdown('flush', () => buffered.close(() => output.flush(), SHUTDOWN_FLUSH_MS));
    lifecycle.onShutdown('sessions', () => kis.stop());

    const symbols = new SymbolSource(c.symbols, c.symbolsFile, c.symbolsPollMs, logger.child({ component: 'kis-symbols' }));
    lifecycle.onShutdown('symbols-file', () => symbols.close());
    setHealth(() => {
      const h = kis.health();
      return { healthy: h.healthy && !buffered.kafkaAway && !lifecycle.isStopping, details: { ...h.details, pendingMessages: output.pendingCount, ...buffered.health() } };
    });

    const initial = symbols.current();
    kis.start(initial);
    symbols.watch((list) => kis.setSymbols(list));
    logger.info(
      { sessions: settings.credentials.length, symbols: initial.length, trs: settings.trs, orderBooks: wantsBooks, account: settings.account, ws: settings.wsUrl, symbolsFile: c.symbolsFile ?? null },
      'kis producer running',
    );
  },
});
