import type { KafkaMessage } from 'kafkajs';
import { defineConfig } from '../../lib/config.js';
import { DeadLetterQueue } from '../../lib/dlq.js';
import { AppError, toAppError } from '../../lib/errors.js';
import { KafkaLiveness } from '../../lib/kafka-liveness.js';
import { consumerConfigSpec, consumerRetry, createKafka, createProducer, ensureTopics, kafkaConfigSpec } from '../../lib/kafka.js';
import { Counter, Gauge, Histogram } from '../../lib/metrics.js';
import { SerialQueue } from '../../lib/serial.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { topicCatalogue } from '../../lib/topics.js';
import { IlpBuffer } from './ilp.js';
import { writeIsolatingRejects } from './isolate.js';
import { IlpHttpWriter, questdbExec } from './questdb-http.js';
import { addMissingColumnsSql, questdbMappings, type TableMapping } from './tables.js';

const config = defineConfig({
  ...kafkaConfigSpec,
  ...consumerConfigSpec,
  ...registryConfigSpec,
  questdbUrl: { env: 'QUESTDB_HTTP_URL', type: 'url', default: 'http://127.0.0.1:9000', doc: 'QuestDB HTTP endpoint (ILP /write and /exec)' },
  tablePrefix: { env: 'QUESTDB_TABLE_PREFIX', type: 'string', default: '', pattern: /^[A-Za-z0-9_]*$/, doc: 'prefix for every table name (tests use a fresh one)' },
  topics: { env: 'SINK_TOPICS', type: 'list', default: ['market.ticks.v1', 'market.candles.1s.v1', 'market.orderbook.v1'], minItems: 1, doc: 'topics to write, by catalogue name (without TOPIC_NAMESPACE)' },
  groupId: { env: 'SINK_GROUP_ID', type: 'string', default: 'questdb-sink', doc: 'consumer group: instances with the same group share the partitions' },
  flushRows: { env: 'SINK_FLUSH_ROWS', type: 'int', default: 100_000, min: 1, doc: 'flush to QuestDB after this many rows (a catch-up: fewer, larger WAL commits cost QuestDB less per row; live traffic flushes on SINK_FLUSH_INTERVAL_MS long before)' },
  flushBytes: { env: 'SINK_FLUSH_BYTES', type: 'int', default: 32 * 1024 * 1024, min: 1024, doc: 'flush to QuestDB once the pending ILP text is this large (wide rows such as order books)' },
  flushIntervalMs: { env: 'SINK_FLUSH_INTERVAL_MS', type: 'int', default: 50, min: 5, doc: 'flush pending rows this long after the previous flush started, once it is done (panel freshness)' },
  catchUpFlushMs: { env: 'SINK_CATCHUP_FLUSH_MS', type: 'int', default: 1_000, min: 5, doc: 'while more than SINK_FLUSH_ROWS records wait in Kafka, flush full batches only, or after this long (fewer, larger QuestDB commits)' },
  maxBackoffMs: { env: 'SINK_MAX_BACKOFF_MS', type: 'int', default: 30_000, min: 100, doc: 'longest wait between retries while QuestDB is failing' },
});


type Pending = { first: number; next: number };
/** Where a row came from: one per partition batch, shared by its rows. */
type Origin = { topic: string; partition: number; table: string };
/** Rows in one flush and the input offsets they cover ("topic|partition" → first and next offset). */
type RowBatch = {
  ilp: IlpBuffer;
  /** Per ILP row, in order: its Kafka message and origin (a rejected row's dead letter, the counts). */
  messages: KafkaMessage[];
  origins: Origin[];
  offsets: Map<string, Pending>;
  /** Input records taken (rows, rows still in `upserts`, dead letters). */
  records: number;
  /** Records per table that became rows (an upsert key's versions count each): the written counter. */
  recordsByTable: Map<string, number>;
  /** Latest version per table and upsert key, encoded just before the flush. */
  upserts: Map<string, { mapping: TableMapping<unknown>; record: unknown; message: KafkaMessage; origin: Origin }>;
  /** How long after the previous flush this one is due: the least patient table in it decides. */
  flushAfterMs: number;
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
    }).filter((m): m is TableMapping<unknown> => m !== undefined);
    if (problems.length > 0) throw new AppError('CONFIG_INVALID', problems.join('\n'));
    const byTopic = new Map(mappings.map((m) => [m.topic.name, m]));

    for (const m of mappings) {
      await questdbExec(c.questdbUrl, m.ddl);
      const { dataset = [] } = await questdbExec(c.questdbUrl, `SELECT "column" FROM table_columns('${m.table}')`);
      for (const alter of addMissingColumnsSql(m.spec, m.table, dataset.map((r) => String(r[0])))) {
        logger.info({ table: m.table, alter }, 'adding a column the table lacks');
        await questdbExec(c.questdbUrl, alter);
      }
    }
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
    const appendedRows = rowsSent.labels({ kind: 'append' });
    const flushSeconds = new Histogram({ name: 'sink_flush_seconds', help: 'QuestDB flush + offset commit time', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [metrics] });
    const flushFailures = new Counter({ name: 'sink_flush_failures_total', help: 'failed flushes (batch re-read from Kafka)', registers: [metrics] });
    const rejectedRows = new Counter({ name: 'sink_rows_rejected_total', help: 'rows QuestDB refused (sent to the dead-letter topic with its reason)', labelNames: ['table'], registers: [metrics] });
    const pendingRows = new Gauge({ name: 'sink_pending_rows', help: 'rows buffered, not yet flushed', registers: [metrics] });

    const writer = new IlpHttpWriter(c.questdbUrl);
    lifecycle.onShutdown('questdb-writer', () => writer.close());

    const consumer = kafka.consumer({ groupId: c.groupId, maxBytesPerPartition: 4 * 1024 * 1024, sessionTimeout: c.sessionTimeoutMs, heartbeatInterval: Math.floor(c.sessionTimeoutMs / 5), retry: consumerRetry(c.sessionTimeoutMs) });
    await consumer.connect();
    lifecycle.onShutdown('consumer', () => consumer.disconnect());
    const kafkaLiveness = new KafkaLiveness(consumer, { staleMs: Math.max(6_000, c.sessionTimeoutMs / 2), logger, maxOutageMs: c.maxOutageMs });
    lifecycle.onShutdown('kafka-liveness', () => kafkaLiveness.close());

    /**
     * Rows are encoded into an ILP buffer batch by batch; a flush posts the buffer and the next rows
     * accumulate in another while it is in flight (two stages, so QuestDB's round trip does not stall
     * consumption; one request at a time, so a later version of a row always lands after an earlier
     * one). Offsets are committed after their flush, in flush order. Every step that touches the
     * buffers or the batches runs in one serial queue.
     */
    const queue = new SerialQueue();
    const spareBuffers: IlpBuffer[] = [];
    const newBatch = (): RowBatch => ({ ilp: spareBuffers.pop() ?? new IlpBuffer(), messages: [], origins: [], offsets: new Map(), records: 0, recordsByTable: new Map(), upserts: new Map(), flushAfterMs: Infinity });
    const flushAfterOf = (m: TableMapping<unknown>) => Math.max(c.flushIntervalMs, m.spec.minFlushIntervalMs ?? 0);
    const recycle = (batch: RowBatch) => {
      batch.ilp.reset();
      if (spareBuffers.length < 2) spareBuffers.push(batch.ilp);
    };
    let current = newBatch();
    let inFlight: { batch: RowBatch; result: Promise<unknown>; settled: boolean; error?: unknown } | null = null;
    let lastFlush = Date.now();
    /** Records still in Kafka after the last batch taken, per "topic|partition" (its high watermark). */
    const backlog = new Map<string, number>();
    let behind = false;
    let failures = 0;
    let paused = false;
    setHealth(() => ({ healthy: failures === 0 && kafkaLiveness.reachable && !lifecycle.isStopping, details: { pendingRows: current.records, consecutiveFailures: failures, kafkaReachable: kafkaLiveness.reachable } }));

    const toCommit = (batch: RowBatch) =>
      [...batch.offsets.entries()].map(([tp, p]) => {
        const [topic, partition] = tp.split('|') as [string, string];
        return { topic, partition: Number(partition), offset: String(p.next) };
      });

    const deadLetter = (origin: Origin, message: KafkaMessage, err: AppError) =>
      dlq.send(producer, { topic: origin.topic, partition: origin.partition, offset: message.offset, key: message.key, value: message.value }, err);

    /** Encodes one row into the batch; returns why not if the encoder refuses the record. */
    const encode = (batch: RowBatch, mapping: TableMapping<unknown>, record: unknown, message: KafkaMessage, origin: Origin): AppError | undefined => {
      try {
        mapping.encoder.encode(record, batch.ilp);
      } catch (err) {
        return new AppError('ENCODE_FAILED', `not an ILP row for ${mapping.table}: ${(err as Error).message}`, { cause: err });
      }
      batch.messages.push(message);
      batch.origins.push(origin);
      return undefined;
    };

    /** Waits for the in-flight flush; on failure rewinds and backs off. Returns false if it failed. */
    const settle = async (): Promise<boolean> => {
      if (!inFlight) return true;
      const flight = inFlight;
      await flight.result;
      inFlight = null;
      if (flight.error === undefined) {
        recycle(flight.batch);
        return true;
      }
      await onFlushFailure(flight.error, flight.batch);
      return false;
    };

    /** Writes the batch, dead-letters the rows QuestDB refuses, then commits the batch's offsets. */
    const write = async (batch: RowBatch) => {
      const { ilp } = batch;
      const rejected = await writeIsolatingRejects(ilp.rows, (from, to) => writer.post(ilp.slice(from, to)));
      for (const { row, error } of rejected) {
        const origin = batch.origins[row] as Origin;
        rejectedRows.inc({ table: origin.table });
        await deadLetter(origin, batch.messages[row] as KafkaMessage, error);
      }
      await consumer.commitOffsets(toCommit(batch));
      const byTable = batch.recordsByTable;
      for (const { row } of rejected) {
        const table = (batch.origins[row] as Origin).table;
        byTable.set(table, (byTable.get(table) ?? 0) - 1);
      }
      for (const [table, n] of byTable) rowsWritten.inc({ table }, n);
    };

    const flush = async () => {
      if (!(await settle())) return;
      if (current.offsets.size === 0 || paused) return;
      const batch = current;
      current = newBatch();
      lastFlush = Date.now();
      for (const { mapping, record, message, origin } of batch.upserts.values()) {
        const err = encode(batch, mapping, record, message, origin);
        if (!err) continue;
        batch.recordsByTable.set(origin.table, (batch.recordsByTable.get(origin.table) ?? 1) - 1);
        await deadLetter(origin, message, err);
      }
      rowsSent.inc({ kind: 'upsert' }, batch.upserts.size);
      batch.upserts.clear();
      pendingRows.set(0);
      const timer = flushSeconds.startTimer();
      const flight: NonNullable<typeof inFlight> = { batch, settled: false, result: Promise.resolve() };
      flight.result = write(batch)
        .then(() => {
          failures = 0;
          timer();
        })
        .catch((err: unknown) => {
          flight.error = err ?? new Error('flush failed');
        })
        .finally(() => {
          flight.settled = true;
          // Rows that arrived meanwhile go out now rather than at the next tick.
          void queue.run(pump).catch((err) => fail(err));
        });
      inFlight = flight;
    };

    /** Flushes once the previous flush is done and the interval has passed. */
    const pump = async () => {
      if (lifecycle.isStopping) return;
      if (inFlight?.settled) await settle();
      if (!inFlight && Date.now() - lastFlush >= (behind ? Math.max(c.catchUpFlushMs, current.flushAfterMs) : current.flushAfterMs)) await flush();
    };

    /**
     * After a failed write the only copy of its rows is in Kafka: rewind every partition with
     * unflushed rows (the failed batch and the one after it) to its first unflushed offset, drop the
     * buffer, pause, back off, resume.
     */
    const onFlushFailure = async (err: unknown, failed: RowBatch) => {
      failures++;
      flushFailures.inc();
      const backoff = Math.min(c.maxBackoffMs, 250 * 2 ** Math.min(failures, 10));
      // The rows reached QuestDB when only the offset commit failed (Kafka away or its coordinator
      // moving): re-writing them is idempotent, and Kafka's absence is already reported once by
      // KafkaLiveness, so that is a warning; a write QuestDB did not take needs a look.
      const kafkaSide = err instanceof Error && err.name.startsWith('KafkaJS');
      logger[kafkaSide ? 'warn' : 'error']({ err: toAppError(err, kafkaSide ? 'KAFKA_UNAVAILABLE' : 'SINK_WRITE_FAILED'), failures, backoffMs: backoff, rows: failed.records + current.records },
        kafkaSide ? 'offset commit failed; re-reading the batch from Kafka after a back-off' : 'QuestDB flush failed; re-reading the batch from Kafka after a back-off');
      const rewind = new Map(current.offsets);
      for (const [tp, p] of failed.offsets) rewind.set(tp, p); // the failed batch starts earlier
      const topicsToPause = [...new Set([...rewind.keys()].map((k) => k.split('|')[0] as string))];
      // While kafkajs restarts a consumer that lost its group (a broker died), pause/seek/resume
      // throw; the restarted consumer reads from the committed offsets, which is the rewind anyway.
      const whileRunning = (what: string, f: () => void) => {
        try {
          f();
        } catch (e) {
          logger.debug({ err: e, what }, 'consumer restarting; it resumes from the committed offsets');
        }
      };
      whileRunning('pause', () => consumer.pause(topicsToPause.map((topic) => ({ topic }))));
      paused = true;
      for (const [tp, p] of rewind) {
        const [topic, partition] = tp.split('|') as [string, string];
        whileRunning('seek', () => consumer.seek({ topic, partition: Number(partition), offset: String(p.first) }));
      }
      recycle(failed);
      recycle(current);
      current = newBatch();
      pendingRows.set(0);
      setTimeout(() => {
        paused = false;
        whileRunning('resume', () => consumer.resume(topicsToPause.map((topic) => ({ topic }))));
      }, backoff).unref();
    };

    const timer = setInterval(() => {
      void queue.run(pump).catch((err) => fail(err));
    }, Math.max(5, Math.floor(c.flushIntervalMs / 2)));
    lifecycle.onShutdown('final-flush', async () => {
      clearInterval(timer);
      await queue.run(async () => {
        await flush();
        await settle();
      }).catch((err) => logger.error({ err }, 'final flush failed'));
    });
    lifecycle.onShutdown('consumer-stop', () => consumer.stop());

    // The partitions may have moved to another instance: their backlog is no longer ours to wait for.
    consumer.on(consumer.events.GROUP_JOIN, () => {
      backlog.clear();
      behind = false;
    });
    for (const m of mappings) await consumer.subscribe({ topic: m.topic.name, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      // Offsets are resolved up to the last record taken: after a rewind, an early return must not skip a batch.
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, isRunning, isStale, heartbeat, resolveOffset }) => {
        await queue.run(async () => {
          if (inFlight?.settled) await settle();
          if (paused) return;
          const mapping = byTopic.get(batch.topic) as TableMapping<unknown>;
          const { spec, reader } = mapping;
          const origin: Origin = { topic: batch.topic, partition: batch.partition, table: mapping.table };
          const key = `${batch.topic}|${batch.partition}`;
          const into = current;
          let appended = 0;
          let taken = 0;
          let last: string | undefined;
          let pending = into.offsets.get(key);
          // A batch turns stale only by a seek, and only this queue seeks (a failed flush's rewind):
          // asked again after an await instead of per record (kafkajs builds a key string per ask).
          let stale = isStale();
          for (const message of batch.messages) {
            if (stale || paused || !isRunning()) break;
            try {
              let decoded = serde.decode<unknown>(message.value, reader);
              if (decoded instanceof Promise) {
                decoded = await decoded; // only a new schema id needs the registry
                stale = isStale();
              }
              const record = spec.validate ? spec.validate(decoded) : decoded;
              if (spec.upsertKey) {
                into.upserts.set(`${mapping.table}|${spec.upsertKey(record)}`, { mapping, record, message, origin });
                taken++;
              } else {
                const err = encode(into, mapping, record, message, origin);
                if (err) throw err;
                appended++;
                taken++;
              }
            } catch (err) {
              const appErr = toAppError(err, 'DECODE_FAILED');
              if (appErr.retryable) throw appErr;
              await deadLetter(origin, message, appErr);
              stale = isStale();
            }
            into.records++;
            const offset = Number(message.offset);
            if (pending) pending.next = offset + 1;
            else into.offsets.set(key, (pending = { first: offset, next: offset + 1 }));
            last = message.offset;
          }
          if (last !== undefined) {
            into.flushAfterMs = Math.min(into.flushAfterMs, flushAfterOf(mapping));
            resolveOffset(last);
            backlog.set(key, Math.max(0, Number(batch.highWatermark) - 1 - Number(last)));
            let waiting = 0;
            for (const n of backlog.values()) waiting += n;
            behind = waiting >= c.flushRows;
          }
          appendedRows.inc(appended);
          into.recordsByTable.set(mapping.table, (into.recordsByTable.get(mapping.table) ?? 0) + taken);
          pendingRows.set(current.records);
          // A full batch waits for the flight before it (back-pressure); otherwise the pump flushes.
          if (current.ilp.rows + current.upserts.size >= c.flushRows || current.ilp.length >= c.flushBytes) await flush();
          else if (!inFlight) await pump();
        });
        await heartbeat();
      },
    });
    logger.info({ topics: mappings.map((m) => m.topic.name), group: c.groupId }, 'QuestDB sink running');
  },
});
