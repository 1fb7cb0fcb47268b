/**
 * Postgres sink: the reference tables. One consumer for every topic in POSTGRES_SINK_TOPICS; each
 * batch is decoded, its records upserted through their topic's mapping (tables.ts) in ONE
 * transaction, and the batch's offsets committed only after that transaction committed. If
 * Postgres fails, the batch's partition is rewound, paused and resumed after a back-off: nothing
 * lost, nothing committed early; a replay only upserts the same rows again.
 */
import avro from 'avsc';
import pg from 'pg';
import { defineConfig } from '../../lib/config.js';
import { DeadLetterQueue } from '../../lib/dlq.js';
import { AppError, isAppError, toAppError } from '../../lib/errors.js';
import { consumerConfigSpec, consumerRetry, createKafka, createProducer, ensureTopics, kafkaConfigSpec } from '../../lib/kafka.js';
import { Counter, Histogram } from '../../lib/metrics.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { topicCatalogue } from '../../lib/topics.js';
import { DeferredWork } from './deferred.js';
import { migrate } from './migrations.js';
import { inTransaction } from './transaction.js';
import { postgresMappings, type PgMapping } from './tables.js';

/**
 * SQLSTATE classes 22 (data exception) and 23 (integrity violation), or a value the parameter
 * encoder refused before sending it: the row is wrong, not the database.
 */
function isRowError(err: unknown): boolean {
  if (isAppError(err, 'SINK_ROW_REJECTED')) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

const config = defineConfig({
  ...kafkaConfigSpec,
  ...consumerConfigSpec,
  ...registryConfigSpec,
  postgresUrl: { env: 'POSTGRES_URL', type: 'string', secret: true, default: 'postgres://kmarket@127.0.0.1:5432/kmarket', doc: 'Postgres connection URL (with its password; never logged)' },
  schema: { env: 'POSTGRES_SCHEMA', type: 'string', default: 'public', pattern: /^[a-z_][a-z0-9_]*$/, doc: 'schema of the tables (tests use a fresh one); migrations create it' },
  poolSize: { env: 'POSTGRES_POOL_SIZE', type: 'int', default: 4, min: 1, max: 100, doc: 'connections in the pool' },
  topics: { env: 'POSTGRES_SINK_TOPICS', type: 'list', default: ['ref.stocks.v1', 'krx.daily-bars.v1'], minItems: 1, doc: 'topics to write, by catalogue name (without TOPIC_NAMESPACE)' },
  groupId: { env: 'POSTGRES_SINK_GROUP_ID', type: 'string', default: 'postgres-sink', doc: 'consumer group: instances with the same group share the partitions' },
  concurrency: { env: 'POSTGRES_SINK_CONCURRENCY', type: 'int', default: 2, min: 1, max: 32, doc: 'partitions written at once, each batch in its own transaction (≤ POSTGRES_POOL_SIZE)' },
  maxBackoffMs: { env: 'SINK_MAX_BACKOFF_MS', type: 'int', default: 30_000, min: 100, doc: 'longest wait between retries while Postgres is failing' },
  refreshDelayMs: { env: 'POSTGRES_REFRESH_DELAY_MS', type: 'int', default: 1_000, min: 0, max: 600_000, doc: 'how soon after bars commit the tables derived from them (daily_market_summary) are recomputed; the commits of that time share one recompute' },
});

await runService({
  name: 'postgres-sink',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth }) {
    const catalogue = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const all = postgresMappings(catalogue);
    const problems: string[] = [];
    const mappings = c.topics.map((base) => {
      const m = all.get(`${c.topicNamespace}${base}`);
      if (!m) problems.push(`POSTGRES_SINK_TOPICS: no Postgres table for ${base} (known: ${[...all.keys()].map((k) => k.slice(c.topicNamespace.length)).join(', ')})`);
      return m;
    }).filter((m): m is PgMapping<never> => m !== undefined);
    if (c.concurrency > c.poolSize) problems.push(`POSTGRES_SINK_CONCURRENCY (${c.concurrency}) is above POSTGRES_POOL_SIZE (${c.poolSize})`);
    if (problems.length > 0) throw new AppError('CONFIG_INVALID', problems.join('\n'));
    const byTopic = new Map(mappings.map((m) => [m.topic.name, m]));
    const readers = new Map(mappings.map((m) => [m.topic.name, avro.Type.forSchema(m.readerSchema)]));

    const pool = new pg.Pool({ connectionString: c.postgresUrl, max: c.poolSize, options: `-c search_path="${c.schema}"`, connectionTimeoutMillis: 10_000 });
    // An idle connection that dies (Postgres restarted) must not crash the process.
    pool.on('error', (err) => logger.warn({ err }, 'idle Postgres connection failed'));
    lifecycle.onShutdown('postgres-pool', () => pool.end());
    const applied = await migrate(pool, c.schema, logger);
    logger.info({ schema: c.schema, applied, tables: mappings.map((m) => m.table) }, 'Postgres tables ready');

    const kafka = createKafka({ brokers: c.brokers, clientId: c.clientId ?? 'postgres-sink', logger });
    const admin = kafka.admin();
    await admin.connect();
    const dlqTopic = catalogue.dlq('postgres-sink');
    await ensureTopics(admin, [dlqTopic, ...mappings.map((m) => m.topic)]);
    await admin.disconnect();

    const serde = new AvroSerde(c.registryUrl);
    const dlq = new DeadLetterQueue(dlqTopic.name, 'postgres-sink', metrics, logger);
    const producer = createProducer(kafka);
    await producer.connect();
    lifecycle.onShutdown('dlq-producer', () => producer.disconnect());

    const rowsWritten = new Counter({ name: 'sink_rows_written_total', help: 'records made durable in Postgres (transaction and offsets committed)', labelNames: ['table'], registers: [metrics] });
    const txSeconds = new Histogram({ name: 'sink_transaction_seconds', help: 'Postgres transaction + offset commit time per batch', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [metrics] });
    const failuresTotal = new Counter({ name: 'sink_flush_failures_total', help: 'failed batches (rewound and re-read from Kafka)', registers: [metrics] });
    const refreshedTotal = new Counter({ name: 'sink_refreshed_total', help: 'units (e.g. dates) of derived tables recomputed after commits', labelNames: ['table'], registers: [metrics] });
    const refreshSeconds = new Histogram({ name: 'sink_refresh_seconds', help: 'time of one recompute of a derived table', labelNames: ['table'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [metrics] });
    const refreshFailures = new Counter({ name: 'sink_refresh_failures_total', help: 'failed recomputes of a derived table (tried again after a back-off; nothing is lost)', labelNames: ['table'], registers: [metrics] });

    // Derived tables: recomputed in their own transaction once commits ask for it, and once now for
    // whatever a stopped or crashed instance left pending.
    const deferredOf = new Map<string, DeferredWork>();
    for (const m of mappings) {
      const d = m.deferred;
      if (!d) continue;
      const work = new DeferredWork({
        delayMs: c.refreshDelayMs,
        maxBackoffMs: c.maxBackoffMs,
        run: () => inTransaction(pool, (client) => d.run(client)),
        onDone: (units, seconds) => {
          if (units === 0) return;
          refreshedTotal.inc({ table: d.name }, units);
          refreshSeconds.observe({ table: d.name }, seconds);
        },
        onError: (err, n, retryInMs) => {
          refreshFailures.inc({ table: d.name });
          logger.warn({ err: toAppError(err, 'SINK_WRITE_FAILED'), table: d.name, failures: n, retryInMs }, 'recompute of a derived table failed; its pending work stays in Postgres and is tried again');
        },
      });
      deferredOf.set(m.topic.name, work);
      lifecycle.onShutdown(`refresh-${d.name}`, () => work.close());
      work.request();
    }

    let failures = 0;
    setHealth(() => ({ healthy: failures === 0 && !lifecycle.isStopping, details: { consecutiveFailures: failures } }));

    const consumer = kafka.consumer({ groupId: c.groupId, maxBytesPerPartition: 2 * 1024 * 1024, sessionTimeout: c.sessionTimeoutMs, heartbeatInterval: Math.floor(c.sessionTimeoutMs / 5), retry: consumerRetry(c.sessionTimeoutMs) });
    await consumer.connect();
    lifecycle.onShutdown('consumer', () => consumer.disconnect());
    lifecycle.onShutdown('consumer-stop', () => consumer.stop());

    for (const m of mappings) await consumer.subscribe({ topic: m.topic.name, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: c.concurrency,
      eachBatch: async ({ batch, isRunning, isStale, heartbeat, pause, resolveOffset }) => {
        if (batch.messages.length === 0 || !isRunning() || isStale()) return;
        const mapping = byTopic.get(batch.topic) as PgMapping<unknown>;
        const reader = readers.get(batch.topic) as avro.Type;
        const latest = new Map<string, { record: unknown; message: (typeof batch.messages)[number] }>();
        const bad: Array<{ offset: string; key: Buffer | null; value: Buffer | null; error: AppError }> = [];
        for (const message of batch.messages) {
          try {
            // Only the first record of an unseen schema id waits for the registry; the rest decode in place.
            const decoded = serde.decode<unknown>(message.value, reader);
            const record = mapping.validate(decoded instanceof Promise ? await decoded : decoded);
            const key = mapping.key(record);
            latest.delete(key); // re-insert: the last version keeps its place in order
            latest.set(key, { record, message });
          } catch (err) {
            const appErr = toAppError(err, 'DECODE_FAILED');
            if (appErr.retryable) throw appErr;
            bad.push({ offset: message.offset, key: message.key, value: message.value, error: appErr });
          }
        }
        const next = String(Number(batch.lastOffset()) + 1);
        const timer = txSeconds.startTimer();
        const write = (records: unknown[]) => inTransaction(pool, async (client) => {
          if (records.length > 0) await mapping.upsert(client, records);
        });
        try {
          try {
            await write([...latest.values()].map((l) => l.record));
          } catch (err) {
            if (!isRowError(err)) throw err;
            // Postgres refused a value (SQLSTATE class 22/23): retrying the batch cannot help. Write
            // the records one by one and dead-letter those it refuses, so one row cannot stop the sink.
            for (const { record, message } of latest.values()) {
              try {
                await write([record]);
              } catch (rowErr) {
                if (!isRowError(rowErr)) throw rowErr;
                bad.push({ offset: message.offset, key: message.key, value: message.value, error: new AppError('SINK_ROW_REJECTED', `Postgres refused the row: ${(rowErr as Error).message}`, { cause: rowErr }) });
              }
            }
          }
          for (const b of bad) await dlq.send(producer, { topic: batch.topic, partition: batch.partition, offset: b.offset, key: b.key, value: b.value }, b.error);
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
          resolveOffset(batch.lastOffset());
          deferredOf.get(batch.topic)?.request();
          timer();
          rowsWritten.inc({ table: mapping.table }, batch.messages.length - bad.length);
          failures = 0;
        } catch (err) {
          // Nothing of this batch is committed: read it again after a back-off.
          failures++;
          failuresTotal.inc();
          const backoff = Math.min(c.maxBackoffMs, 250 * 2 ** Math.min(failures, 10));
          logger.error({ err: toAppError(err, 'SINK_WRITE_FAILED'), topic: batch.topic, partition: batch.partition, failures, backoffMs: backoff }, 'Postgres write failed; re-reading the batch from Kafka after a back-off');
          const resume = pause();
          consumer.seek({ topic: batch.topic, partition: batch.partition, offset: batch.firstOffset() ?? batch.messages[0]?.offset ?? '0' });
          setTimeout(resume, backoff).unref();
          return;
        }
        await heartbeat();
      },
    });
    logger.info({ topics: mappings.map((m) => m.topic.name), group: c.groupId, schema: c.schema }, 'Postgres sink running');
  },
});
