import os from 'node:os';
import type { Message } from 'kafkajs';
import { defineConfig } from '../../lib/config.js';
import { DeadLetterQueue } from '../../lib/dlq.js';
import { toAppError } from '../../lib/errors.js';
import { consumerConfigSpec, createKafka, createProducer, ensureTopics, kafkaConfigSpec } from '../../lib/kafka.js';
import { Counter, Gauge, Histogram } from '../../lib/metrics.js';
import { SerialQueue } from '../../lib/serial.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { MICROS_PER_MS, MICROS_PER_SECOND, nowMicros } from '../../lib/time.js';
import { topicCatalogue } from '../../lib/topics.js';
import { CandleSchema, TickSchema } from '../../schemas/generated/schemas.js';
import type { Candle, Tick } from '../../schemas/generated/types.js';
import { validateTick } from '../../schemas/validation.js';
import { CandleTask, decodeCheckpointMetadata, encodeCheckpointMetadata } from './candle-task.js';

const config = defineConfig({
  ...kafkaConfigSpec,
  ...consumerConfigSpec,
  ...registryConfigSpec,
  applicationId: { env: 'CANDLES_APP_ID', type: 'string', default: 'candles-1s', pattern: /^[A-Za-z0-9._-]+$/, doc: 'consumer group and transactional-id prefix' },
  instanceId: { env: 'INSTANCE_ID', type: 'optional-string', doc: 'stable id of this instance, part of its transactional id (default: the host name; set it when several instances share a host)' },
  transactionTimeoutMs: { env: 'TRANSACTION_TIMEOUT_MS', type: 'int', default: 10_000, min: 1000, doc: 'how long the broker keeps an abandoned transaction open (it blocks read_committed readers)' },
  graceMs: { env: 'CANDLE_GRACE_MS', type: 'int', default: 1000, min: 0, doc: 'how long after a window ends late trades are still accepted (event time)' },
  updateIntervalMs: { env: 'CANDLE_UPDATE_INTERVAL_MS', type: 'int', default: 250, min: 10, doc: 'how often in-progress candles are emitted for live panels' },
  commitIntervalMs: { env: 'COMMIT_INTERVAL_MS', type: 'int', default: 100, min: 10, doc: 'how often outputs and offsets are committed in one transaction' },
  idleMs: { env: 'PARTITION_IDLE_MS', type: 'int', default: 1000, min: 50, doc: 'after this long without input, a partition\'s stream time follows the wall clock' },
});

const INTERVAL = '1s';

await runService({
  name: 'candle-processor',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, fail }) {
    const topics = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const input = topics.ticks.name;
    const output = topics.candles(INTERVAL).name;
    const kafka = createKafka({ brokers: c.brokers, clientId: c.clientId ?? 'candle-processor', logger, maxOutageMs: c.maxOutageMs });
    const admin = kafka.admin();
    await admin.connect();
    lifecycle.onShutdown('admin', () => admin.disconnect());
    await ensureTopics(admin, [topics.ticks, topics.candles(INTERVAL), topics.lateTicks, topics.dlq('candles')], c);

    const serde = new AvroSerde(c.registryUrl);
    const candleWriter = await serde.registerValueSchema<Candle>(output, CandleSchema);
    await serde.registerValueSchema<Tick>(topics.lateTicks.name, TickSchema);
    const dlq = new DeadLetterQueue(topics.dlq('candles').name, 'candles', metrics, logger);

    const ticksIn = new Counter({ name: 'candles_ticks_in_total', help: 'ticks consumed', registers: [metrics] });
    const emitted = new Counter({ name: 'candles_emitted_total', help: 'candle records produced', labelNames: ['kind'], registers: [metrics] });
    const late = new Counter({ name: 'candles_late_ticks_total', help: 'ticks later than the grace period, routed to the late topic', registers: [metrics] });
    const txSeconds = new Histogram({ name: 'candles_transaction_seconds', help: 'time to commit one transaction (outputs + offsets)', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [metrics] });
    const finalDelay = new Histogram({ name: 'candles_final_delay_seconds', help: 'wall time from window end to the final candle, for live data', buckets: [0.5, 1, 1.5, 2, 3, 5, 10, 30], registers: [metrics] });
    const openWindows = new Gauge({ name: 'candles_open_windows', help: 'windows held in memory', registers: [metrics] });

    const task = new CandleTask({
      interval: INTERVAL,
      sizeMicros: MICROS_PER_SECOND,
      graceMicros: c.graceMs * MICROS_PER_MS,
      idleMs: c.idleMs,
    });
    const queue = new SerialQueue();
    let pending: { candles: Message[]; late: Message[]; dead: Message[] } = { candles: [], late: [], dead: [] };
    const lastCommitted = new Map<number, string>();
    let lastCommitAt = Date.now();
    let lastUpdateAt = Date.now();
    let healthy = true;
    setHealth(() => ({ healthy: healthy && !lifecycle.isStopping, details: { openWindows: task.openWindowCount() } }));

    // A stable transactional id: when an instance is killed and restarts, initTransactions fences the
    // old producer and aborts its open transaction at once, instead of read_committed readers waiting
    // for it to time out. (kafkajs has no KIP-447 consumer-group fencing, so this is per instance.)
    const transactionalId = `${c.applicationId}-${c.instanceId ?? os.hostname()}`;
    const producer = createProducer(kafka, {
      transactionalId,
      transactionTimeout: c.transactionTimeoutMs,
      idempotent: true,
      maxInFlightRequests: 1,
      // A short back-off: after each commit the broker briefly answers CONCURRENT_TRANSACTIONS.
      retry: { initialRetryTime: 10, retries: 10 },
    });
    await producer.connect();
    lifecycle.onShutdown('producer', () => producer.disconnect());

    const consumer = kafka.consumer({ groupId: c.applicationId, readUncommitted: false, maxBytesPerPartition: 4 * 1024 * 1024, sessionTimeout: c.sessionTimeoutMs, heartbeatInterval: Math.floor(c.sessionTimeoutMs / 5) });
    await consumer.connect();
    lifecycle.onShutdown('consumer', () => consumer.disconnect());

    const encodeCandles = (candles: Candle[]) => {
      for (const candle of candles) {
        pending.candles.push({ key: candle.symbol, value: candleWriter.encode(candle), timestamp: String(Math.floor(candle.windowStart / 1000)) });
        if (candle.isFinal) {
          const delay = (candle.emittedAt - candle.windowEnd) / MICROS_PER_SECOND;
          if (delay >= 0 && delay < 60) finalDelay.observe(delay);
        }
      }
      emitted.inc({ kind: 'final' }, candles.filter((x) => x.isFinal).length);
      emitted.inc({ kind: 'update' }, candles.filter((x) => !x.isFinal).length);
    };

    /** One transaction: every pending output plus the input checkpoints they derive from. */
    const flush = async () => {
      const checkpoints = task.assigned().flatMap((partition) => {
        const cp = task.checkpoint(partition);
        if (!cp) return [];
        const metadata = encodeCheckpointMetadata(cp);
        return lastCommitted.get(partition) === `${cp.offset}:${metadata}` ? [] : [{ partition, offset: String(cp.offset), metadata }];
      });
      const out = pending;
      if (out.candles.length + out.late.length + out.dead.length === 0 && checkpoints.length === 0) return;
      pending = { candles: [], late: [], dead: [] };
      const timer = txSeconds.startTimer();
      const txn = await producer.transaction();
      try {
        const topicMessages = [
          { topic: output, messages: out.candles },
          { topic: topics.lateTicks.name, messages: out.late },
          { topic: dlq.topic, messages: out.dead },
        ].filter((t) => t.messages.length > 0);
        if (topicMessages.length > 0) await txn.sendBatch({ topicMessages, acks: -1 });
        if (checkpoints.length > 0) {
          await txn.sendOffsets({ consumerGroupId: c.applicationId, topics: [{ topic: input, partitions: checkpoints }] });
        }
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => undefined);
        throw err;
      }
      timer();
      for (const cp of checkpoints) lastCommitted.set(cp.partition, `${cp.offset}:${cp.metadata}`);
      lastCommitAt = Date.now();
    };

    const failOnError = (err: unknown) => {
      // State in memory is ahead of what was committed: restart from the last checkpoint.
      healthy = false;
      fail(toAppError(err, 'KAFKA_UNAVAILABLE'));
    };

    const openPartition = async (partition: number) => {
      const [committed] = await admin.fetchOffsets({ groupId: c.applicationId, topics: [input] });
      const p = committed?.partitions.find((x) => x.partition === partition);
      const cp = p ? decodeCheckpointMetadata(Number(p.offset), p.metadata) : null;
      task.open(partition, cp, Date.now());
      logger.info({ partition, checkpoint: cp }, cp ? 'partition restored from checkpoint' : 'partition started fresh');
    };

    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const mine = new Set(payload.memberAssignment[input] ?? []);
      void queue.run(async () => {
        const lost = task.assigned().filter((p) => !mine.has(p));
        if (lost.length === 0) return;
        await flush();
        for (const p of lost) {
          task.close(p);
          lastCommitted.delete(p);
        }
        logger.info({ lost }, 'partitions moved to another instance');
      }).catch(failOnError);
    });

    /**
     * Which idle candidates really are idle: their log holds nothing we have not processed. The end
     * of a log may be a transaction marker (high = next + 1); that counts as idle only when the same
     * end was seen at the previous check with no progress since, since a real record there would
     * have been fetched in between.
     */
    const previousEnds = new Map<number, string>();
    let lastIdleCheck = 0;
    const confirmIdle = async (now: number): Promise<Set<number>> => {
      const idle = new Set<number>();
      const candidates = task.idleCandidates(now);
      if (candidates.length === 0 || now - lastIdleCheck < 250) return idle;
      lastIdleCheck = now;
      const ends = await admin.fetchTopicOffsets(input);
      for (const { partition, nextOffset } of candidates) {
        const high = Number(ends.find((e) => e.partition === partition)?.high ?? Number.POSITIVE_INFINITY);
        const seen = `${high}:${nextOffset}`;
        if (nextOffset >= high || (nextOffset === high - 1 && previousEnds.get(partition) === seen)) idle.add(partition);
        previousEnds.set(partition, seen);
      }
      return idle;
    };

    const punctuation = setInterval(() => {
      void queue.run(async () => {
        if (lifecycle.isStopping) return;
        const now = Date.now();
        task.punctuate(now, await confirmIdle(now));
        encodeCandles(task.takeFinals(nowMicros()));
        if (now - lastUpdateAt >= c.updateIntervalMs) {
          encodeCandles(task.takeUpdates(nowMicros()));
          lastUpdateAt = now;
        }
        openWindows.set(task.openWindowCount());
        if (now - lastCommitAt >= c.commitIntervalMs) await flush();
      }).catch(failOnError);
    }, Math.min(50, c.commitIntervalMs));
    lifecycle.onShutdown('final-commit', async () => {
      clearInterval(punctuation);
      await queue.run(() => flush()).catch((err) => logger.error({ err }, 'final commit failed'));
    });
    lifecycle.onShutdown('consumer-stop', () => consumer.stop());

    await consumer.subscribe({ topic: input, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        await queue.run(async () => {
          const partition = batch.partition;
          if (!task.has(partition)) await openPartition(partition);
          const now = Date.now();
          for (const message of batch.messages) {
            if (!isRunning() || isStale()) break;
            const offset = Number(message.offset);
            let tick: Tick;
            try {
              tick = validateTick(await serde.decode<Tick>(message.value));
            } catch (err) {
              const appErr = toAppError(err, 'DECODE_FAILED');
              if (appErr.retryable) throw appErr;
              pending.dead.push(dlq.record({ topic: input, partition, offset: message.offset, key: message.key, value: message.value }, appErr));
              task.skip(partition, offset);
              resolveOffset(message.offset);
              continue;
            }
            ticksIn.inc();
            const result = task.process(partition, offset, { symbol: tick.symbol, time: tick.exchangeTime, sequence: tick.sequence, price: tick.price, quantity: tick.quantity }, now);
            if (result === 'late') {
              late.inc();
              pending.late.push({ key: message.key, value: message.value, headers: { 'kmarket.late.partition': String(partition), 'kmarket.late.offset': message.offset } });
            }
            // Only the fetch position: what is committed is the checkpoint, inside the transaction.
            resolveOffset(message.offset);
          }
          encodeCandles(task.takeFinals(nowMicros()));
          if (Date.now() - lastCommitAt >= c.commitIntervalMs) await flush();
        }).catch((err) => {
          failOnError(err);
          throw err;
        });
        await heartbeat();
      },
    });
    logger.info({ input, output, transactionalId }, 'candle processor running');
  },
});
