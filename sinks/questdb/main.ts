import { Sender } from '@questdb/nodejs-client';
import avro from 'avsc';
import { defineConfig } from '../../lib/config.js';
import { DeadLetterQueue } from '../../lib/dlq.js';
import { AppError, toAppError } from '../../lib/errors.js';
import { KafkaLiveness } from '../../lib/kafka-liveness.js';
import { consumerConfigSpec, createKafka, createProducer, ensureTopics, kafkaConfigSpec } from '../../lib/kafka.js';
import { Counter, Gauge, Histogram } from '../../lib/metrics.js';
import { SerialQueue } from '../../lib/serial.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { topicCatalogue } from '../../lib/topics.js';
import { questdbExec } from './questdb-http.js';
import { questdbMappings, type TableMapping } from './tables.js';

const config = defineConfig({
  ...kafkaConfigSpec,
  ...consumerConfigSpec,
  ...registryConfigSpec,
  questdbUrl: { env: 'QUESTDB_HTTP_URL', type: 'url', default: 'http://127.0.0.1:9000', doc: 'QuestDB HTTP endpoint (ILP /write and /exec)' },
  tablePrefix: { env: 'QUESTDB_TABLE_PREFIX', type: 'string', default: '', pattern: /^[A-Za-z0-9_]*$/, doc: 'prefix for every table name (tests use a fresh one)' },
  topics: { env: 'SINK_TOPICS', type: 'list', default: ['market.ticks.v1', 'market.candles.1s.v1'], minItems: 1, doc: 'topics to write, by catalogue name (without TOPIC_NAMESPACE)' },
  groupId: { env: 'SINK_GROUP_ID', type: 'string', default: 'questdb-sink', doc: 'consumer group: instances with the same group share the partitions' },
  flushRows: { env: 'SINK_FLUSH_ROWS', type: 'int', default: 20_000, min: 1, doc: 'flush to QuestDB after this many rows' },
  flushIntervalMs: { env: 'SINK_FLUSH_INTERVAL_MS', type: 'int', default: 200, min: 10, doc: 'flush at least this often while rows are pending (panel freshness)' },
  maxBackoffMs: { env: 'SINK_MAX_BACKOFF_MS', type: 'int', default: 30_000, min: 100, doc: 'longest wait between retries while QuestDB is failing' },
});

type Pending = { first: number; next: number };
/** Rows in one flush and the input offsets they cover ("topic|partition" → first and next offset). */
type RowBatch = {
  offsets: Map<string, Pending>;
  rows: number;
  rowsByTable: Map<string, number>;
  /** Latest version per table and upsert key, written to the buffer just before the flush. */
  upserts: Map<string, { mapping: TableMapping<unknown>; record: unknown }>;
};

await runService({
  name: 'questdb-sink',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, fail }) {
    const catalogue = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const all = questdbMappings(catalogue, c.tablePrefix);
    const problems: string[] = [];
    const mappings = c.topics.map((base) => {
      const m = all.get(`${c.topicNamespace}${base}`);
      if (!m) problems.push(`SINK_TOPICS: no QuestDB table for ${base} (known: ${[...all.keys()].map((k) => k.slice(c.topicNamespace.length)).join(', ')})`);
      return m;
    }).filter((m): m is TableMapping<never> => m !== undefined);
    if (problems.length > 0) throw new AppError('CONFIG_INVALID', problems.join('\n'));
    const byTopic = new Map(mappings.map((m) => [m.topic.name, m]));
    const readers = new Map(mappings.map((m) => [m.topic.name, avro.Type.forSchema(m.readerSchema)]));

    for (const m of mappings) await questdbExec(c.questdbUrl, m.ddl);
    logger.info({ tables: mappings.map((m) => m.table) }, 'QuestDB tables ready');

    const kafka = createKafka({ brokers: c.brokers, clientId: c.clientId ?? 'questdb-sink', logger, maxOutageMs: c.maxOutageMs });
    const admin = kafka.admin();
    await admin.connect();
    const dlqTopic = catalogue.dlq('questdb-sink');
    await ensureTopics(admin, [dlqTopic, ...mappings.map((m) => m.topic)], c);
    await admin.disconnect();

    const serde = new AvroSerde(c.registryUrl);
    const dlq = new DeadLetterQueue(dlqTopic.name, 'questdb-sink', metrics, logger);
    const producer = createProducer(kafka, { idempotent: true });
    await producer.connect();
    lifecycle.onShutdown('dlq-producer', () => producer.disconnect());

    const rowsWritten = new Counter({ name: 'sink_rows_written_total', help: 'records made durable in QuestDB (flushed, offsets committed)', labelNames: ['table'], registers: [metrics] });
    const rowsSent = new Counter({ name: 'sink_rows_sent_total', help: 'rows sent to QuestDB; versions of one upsert key in one flush are sent once', labelNames: ['kind'], registers: [metrics] });
    const appendedRows = rowsSent.labels({ kind: 'append' }); // per row: skip the label look-up
    const flushSeconds = new Histogram({ name: 'sink_flush_seconds', help: 'QuestDB flush + offset commit time', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [metrics] });
    const flushFailures = new Counter({ name: 'sink_flush_failures_total', help: 'failed flushes (batch re-read from Kafka)', registers: [metrics] });
    const pendingRows = new Gauge({ name: 'sink_pending_rows', help: 'rows buffered, not yet flushed', registers: [metrics] });

    // protocol_version=2 skips the /settings look-up and writes LONGs as integers; auto-flush is ours,
    // because an offset may only be committed after the rows it covers are flushed; stdlib_http makes
    // a refused connection fail at once (the default transport retries it forever, blocking the sink
    // while it still looks healthy) so the rewind-and-back-off below takes over.
    const questdbAddr = new URL(c.questdbUrl).host;
    const newSender = () => Sender.fromConfig(`http::addr=${questdbAddr};protocol_version=2;auto_flush=off;retry_timeout=10000;stdlib_http=on`);
    let sender = await newSender();
    lifecycle.onShutdown('questdb-sender', () => sender.close());

    const consumer = kafka.consumer({ groupId: c.groupId, maxBytesPerPartition: 4 * 1024 * 1024, sessionTimeout: c.sessionTimeoutMs, heartbeatInterval: Math.floor(c.sessionTimeoutMs / 5) });
    await consumer.connect();
    lifecycle.onShutdown('consumer', () => consumer.disconnect());
    const kafkaLiveness = new KafkaLiveness(consumer, { staleMs: Math.max(6_000, c.sessionTimeoutMs / 2), logger, maxOutageMs: c.maxOutageMs });
    lifecycle.onShutdown('kafka-liveness', () => kafkaLiveness.close());

    /**
     * Rows are written into the client's buffer batch by batch; a flush hands the buffer to an HTTP
     * request and the next rows accumulate while it is in flight (two stages, so QuestDB's round trip
     * does not stall consumption). Offsets are committed after their flush, in flush order. Every
     * step that touches the buffer or the batches runs in one serial queue.
     */
    const queue = new SerialQueue();
    const newBatch = (): RowBatch => ({ offsets: new Map(), rows: 0, rowsByTable: new Map(), upserts: new Map() });
    let current = newBatch();
    let inFlight: { batch: RowBatch; result: Promise<unknown>; settled: boolean; error?: unknown } | null = null;
    let lastFlush = Date.now();
    let failures = 0;
    let paused = false;
    setHealth(() => ({ healthy: failures === 0 && kafkaLiveness.reachable && !lifecycle.isStopping, details: { pendingRows: current.rows, consecutiveFailures: failures, kafkaReachable: kafkaLiveness.reachable } }));

    const toCommit = (batch: RowBatch) =>
      [...batch.offsets.entries()].map(([tp, p]) => {
        const [topic, partition] = tp.split('|') as [string, string];
        return { topic, partition: Number(partition), offset: String(p.next) };
      });

    /** Waits for the in-flight flush; on failure rewinds and backs off. Returns false if it failed. */
    const settle = async (): Promise<boolean> => {
      if (!inFlight) return true;
      const flight = inFlight;
      await flight.result;
      inFlight = null;
      if (flight.error === undefined) return true;
      await onFlushFailure(flight.error, flight.batch);
      return false;
    };

    const flush = async () => {
      if (!(await settle())) return;
      if (current.offsets.size === 0 || paused) return;
      const batch = current;
      current = newBatch();
      lastFlush = Date.now();
      for (const { mapping, record } of batch.upserts.values()) await mapping.write(sender, record);
      rowsSent.inc({ kind: 'upsert' }, batch.upserts.size);
      pendingRows.set(0);
      const timer = flushSeconds.startTimer();
      // flush() copies and clears the client buffer before its first await, so rows written from
      // now on belong to the next batch.
      const sent = batch.rows > 0 ? sender.flush() : Promise.resolve(false);
      const flight: NonNullable<typeof inFlight> = { batch, settled: false, result: Promise.resolve() };
      flight.result = sent
        .then(() => consumer.commitOffsets(toCommit(batch)))
        .then(() => {
          for (const [table, n] of batch.rowsByTable) rowsWritten.inc({ table }, n);
          failures = 0;
          timer();
        })
        .catch((err: unknown) => {
          flight.error = err ?? new Error('flush failed');
        })
        .finally(() => {
          flight.settled = true;
        });
      inFlight = flight;
    };

    /**
     * The client drops the rows of a failed flush, so the only copy left is in Kafka: rewind every
     * partition with unflushed rows (the failed batch and the one after it) to its first unflushed
     * offset, drop the buffer, pause, back off, resume.
     */
    const onFlushFailure = async (err: unknown, failed: RowBatch) => {
      failures++;
      flushFailures.inc();
      const backoff = Math.min(c.maxBackoffMs, 250 * 2 ** Math.min(failures, 10));
      logger.error({ err: toAppError(err, 'SINK_WRITE_FAILED'), failures, backoffMs: backoff, rows: failed.rows + current.rows }, 'QuestDB flush failed; re-reading the batch from Kafka after a back-off');
      const rewind = new Map(current.offsets);
      for (const [tp, p] of failed.offsets) rewind.set(tp, p); // the failed batch starts earlier
      const topicsToPause = [...new Set([...rewind.keys()].map((k) => k.split('|')[0] as string))];
      consumer.pause(topicsToPause.map((topic) => ({ topic })));
      paused = true;
      for (const [tp, p] of rewind) {
        const [topic, partition] = tp.split('|') as [string, string];
        consumer.seek({ topic, partition: Number(partition), offset: String(p.first) });
      }
      current = newBatch();
      pendingRows.set(0);
      await sender.close().catch(() => undefined);
      sender = await newSender();
      setTimeout(() => {
        paused = false;
        consumer.resume(topicsToPause.map((topic) => ({ topic })));
      }, backoff).unref();
    };

    const timer = setInterval(() => {
      void queue.run(async () => {
        if (lifecycle.isStopping) return;
        if (inFlight?.settled) await settle();
        if (Date.now() - lastFlush >= c.flushIntervalMs) await flush();
      }).catch((err) => fail(err));
    }, Math.max(10, Math.floor(c.flushIntervalMs / 2)));
    lifecycle.onShutdown('final-flush', async () => {
      clearInterval(timer);
      await queue.run(async () => {
        await flush();
        await settle();
      }).catch((err) => logger.error({ err }, 'final flush failed'));
    });
    lifecycle.onShutdown('consumer-stop', () => consumer.stop());

    for (const m of mappings) await consumer.subscribe({ topic: m.topic.name, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      // Offsets are resolved per written row: after a rewind, an early return must not skip a batch.
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, isRunning, isStale, heartbeat, resolveOffset }) => {
        await queue.run(async () => {
          if (inFlight?.settled) await settle();
          if (paused) return;
          const mapping = byTopic.get(batch.topic) as TableMapping<unknown>;
          const reader = readers.get(batch.topic) as avro.Type;
          const key = `${batch.topic}|${batch.partition}`;
          const into = current;
          for (const message of batch.messages) {
            if (!isRunning() || isStale() || paused) break;
            try {
              const record = mapping.validate(await serde.decode<unknown>(message.value, reader));
              if (mapping.upsertKey) {
                into.upserts.set(`${mapping.table}|${mapping.upsertKey(record)}`, { mapping, record });
              } else {
                await mapping.write(sender, record);
                appendedRows.inc();
              }
              into.rows++;
              into.rowsByTable.set(mapping.table, (into.rowsByTable.get(mapping.table) ?? 0) + 1);
            } catch (err) {
              const appErr = toAppError(err, 'DECODE_FAILED');
              if (appErr.retryable) throw appErr;
              await dlq.send(producer, { topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key, value: message.value }, appErr);
            }
            const offset = Number(message.offset);
            const p = into.offsets.get(key);
            if (p) p.next = offset + 1;
            else into.offsets.set(key, { first: offset, next: offset + 1 });
            resolveOffset(message.offset);
          }
          pendingRows.set(current.rows);
          if (current.rows >= c.flushRows || Date.now() - lastFlush >= c.flushIntervalMs) await flush();
        });
        await heartbeat();
      },
    });
    logger.info({ topics: mappings.map((m) => m.topic.name), group: c.groupId }, 'QuestDB sink running');
  },
});
