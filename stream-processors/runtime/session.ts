import { randomBytes } from 'node:crypto';
import type { Admin, Consumer, Kafka, Message, Producer } from 'kafkajs';
import { AppError, toAppError } from '../../lib/errors.js';
import { consumerRetry, createKafka, createProducer, ensureTopics, untilBrokerAnswers } from '../../lib/kafka.js';
import { KafkaLiveness } from '../../lib/kafka-liveness.js';
import { SerialQueue } from '../../lib/serial.js';
import type { TopicSpec } from '../../lib/topics.js';
import { decodeCheckpointMetadata, encodeCheckpointMetadata } from './checkpoint.js';
import { ProcessorFailure, type Metrics, type OutputSpec, type SessionLike, type StreamAppOptions } from './options.js';
import { DeliveryWatch } from './delivery-watch.js';
import { ENDED, EndSignal } from './end-signal.js';
import { changelogTopicName } from './store.js';
import { sendChunks } from './send-chunks.js';
import { PartitionTask } from './task.js';

const TEARDOWN_TIMEOUT_MS = 5000;
/** How often the watchdog compares the log ends with what the consumer delivered (see DeliveryWatch). */
const DELIVERY_CHECK_MS = 5000;
/**
 * A partition whose fetched batch ended this many records or more before the log end is catching up.
 * Far above what a live producer holds in an open transaction (the high watermark counts those too).
 */
const CATCH_UP_LAG = 10_000;
/**
 * The transactional producer's retries: a short back-off (2 ms, doubling: about 8 s in all), since right
 * after a commit the coordinator answers CONCURRENT_TRANSACTIONS until it has written the commit's
 * markers, a few milliseconds (`npm run bench -- kafkajs-transactions`: back to back, 10 ms took the
 * p50 transaction from 8-9 ms to 16-17 ms).
 */
export const TRANSACTION_RETRY = { initialRetryTime: 2, retries: 12 };

/** While catching up, a commit is still due once this many outputs wait (bounds the memory they hold). */
const CATCH_UP_MAX_PENDING = 50_000;

/**
 * Time from the start of one commit to the start of the next: commitIntervalMs; while some partition is
 * catching up, catchUpCommitIntervalMs (never shorter), unless CATCH_UP_MAX_PENDING outputs already wait —
 * the same outputs in fewer transactions.
 */
export function commitInterval(o: Pick<StreamAppOptions<unknown, unknown>, 'commitIntervalMs' | 'catchUpCommitIntervalMs'>, catchingUp: boolean, pendingOutputs: number): number {
  if (!catchingUp || pendingOutputs >= CATCH_UP_MAX_PENDING) return o.commitIntervalMs;
  return Math.max(o.commitIntervalMs, o.catchUpCommitIntervalMs ?? 0);
}

/**
 * Whether to commit now: the interval has passed since the previous commit started, or, while no
 * partition catches up, a wall-clock punctuator has just emitted outputs. Those are for live readers
 * (the in-progress candles of a panel), and waiting for the next interval cost them 50 ms on average
 * and up to the whole interval; the interval then counts from this commit.
 */
export function commitDue(o: Pick<StreamAppOptions<unknown, unknown>, 'commitIntervalMs' | 'catchUpCommitIntervalMs'>, s: { sinceLastCommitMs: number; catchingUp: boolean; pendingOutputs: number; punctuatedOutputs: boolean }): boolean {
  if (s.punctuatedOutputs && !s.catchingUp) return true;
  return s.sinceLastCommitMs >= commitInterval(o, s.catchingUp, s.pendingOutputs);
}

/**
 * Why a session is stuck, or null. A section of its work (a batch, a commit, a rebalance) that has
 * not finished after `stallMs`, or a consumer that has heard nothing from Kafka for that long, is
 * not waiting for Kafka but stuck (a consumer that talks but delivers nothing: DeliveryWatch). By
 * then the group has dropped the member and the broker has aborted the open transaction, so a new
 * session, with new clients, loses nothing. Restoring stores is exempt (it has its own limit), and
 * the clocks start again after it.
 */
export function stallOf(s: { now: number; stallMs: number; lastAnswer: number; busySince: number | null; restoring: boolean; restoredAt: number }): string | null {
  if (s.restoring) return null;
  const busyMs = s.busySince === null ? 0 : s.now - Math.max(s.busySince, s.restoredAt);
  if (busyMs >= s.stallMs) return `a batch, commit or rebalance has not finished in ${busyMs} ms`;
  const silentMs = s.now - Math.max(s.lastAnswer, s.restoredAt);
  if (silentMs >= s.stallMs) return `the consumer has heard nothing from Kafka for ${silentMs} ms`;
  return null;
}

/** One set of Kafka clients and the tasks of the partitions assigned to it. */
export class Session<In, Out> implements SessionLike {
  running = false;
  readonly ended: Promise<unknown>;
  /** Settles `ended` and releases the waits of every batch (see EndSignal: racing `ended` itself leaked). */
  private endWith!: (err: unknown) => void;
  private readonly end = new EndSignal();
  private alive = true;
  private readonly kafka: Kafka;
  private admin: Admin | null = null;
  private producer: Producer | null = null;
  private consumer: Consumer | null = null;
  private liveness: KafkaLiveness | null = null;
  private timer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private restoring = false;
  private restoredAt = 0;
  private readonly delivery = new DeliveryWatch();
  private deliveryCheckAt = 0;
  private deliveryCheckRunning = false;
  private readonly queue = new SerialQueue();
  private readonly tasks = new Map<number, PartitionTask<In, Out>>();
  /** The latest assignment, updated the moment the group says so (before the queue gets to it). */
  private assigned = new Set<number>();
  private readonly lastCommitted = new Map<number, string>();
  private pending = new Map<string, Message[]>();
  private pendingCount = 0;
  /** When the last transaction started: commits are due every commit interval from one start to the next. */
  private lastCommitStartedAt = Date.now();
  private readonly encoders = new Map<string, OutputSpec<unknown>>();
  private changelogPartitions = 0;
  private readonly previousEnds = new Map<number, string>();
  private lastIdleCheck = 0;
  /** Partitions whose last batch was at least CATCH_UP_LAG records behind the log end. */
  private readonly catchingUp = new Set<number>();

  constructor(private readonly o: StreamAppOptions<In, Out>, private readonly m: Metrics) {
    this.ended = new Promise((resolve) => {
      this.endWith = (err) => {
        resolve(err);
        this.end.end();
      };
    });
    this.kafka = createKafka({ brokers: o.brokers, clientId: o.clientId, logger: o.logger, maxOutageMs: o.maxOutageMs });
    for (const [name, spec] of Object.entries(o.outputs) as Array<[string, OutputSpec<unknown>]>) this.encoders.set(name, spec);
  }

  get reachable(): boolean {
    return this.liveness?.reachable ?? true;
  }

  assignedPartitions(): number[] {
    return [...this.tasks.keys()].sort((a, b) => a - b);
  }

  private fail(err: unknown): void {
    if (!this.alive) return;
    this.alive = false;
    this.running = false;
    this.endWith(err);
  }

  async start(): Promise<void> {
    const o = this.o;
    const input = o.input.topic.name;
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await ensureTopics(this.admin, [o.input.topic, ...Object.values<OutputSpec<unknown>>(o.outputs).map((x) => x.topic), o.deadLetters.topic, ...(o.lateTopic ? [o.lateTopic] : [])], o.placement);
    const [meta] = (await this.admin.fetchTopicMetadata({ topics: [input] })).topics;
    this.changelogPartitions = meta?.partitions.length ?? o.input.topic.partitions;
    await ensureTopics(this.admin, (o.stores ?? []).map((s) => this.changelogTopic(s.name)), o.placement);

    this.producer = createProducer(this.kafka, {
      transactionalId: `${o.applicationId}-${o.instanceId}`,
      transactionTimeout: o.transactionTimeoutMs,
      idempotent: true,
      maxInFlightRequests: 1,
      retry: TRANSACTION_RETRY,
    });
    await this.producer.connect();

    const consumer = this.kafka.consumer({
      groupId: o.applicationId,
      readUncommitted: false,
      maxBytesPerPartition: 4 * 1024 * 1024,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: Math.floor(o.sessionTimeoutMs / 5),
      // A restart inside kafkajs would re-read from the committed offsets into state that is ahead of
      // them: the whole session is replaced instead (after consumerRetry: a dead group coordinator is
      // only looked up again by new clients).
      retry: { ...consumerRetry(o.sessionTimeoutMs), restartOnFailure: async () => false },
    });
    this.consumer = consumer;
    // kafkajs retries an unreachable broker by itself for KAFKA_MAX_OUTAGE_MS; meanwhile the session
    // still looks alive, so /health asks whether the consumer hears from Kafka at all.
    this.liveness = new KafkaLiveness(consumer, {
      staleMs: Math.max(6_000, o.sessionTimeoutMs / 2),
      logger: o.logger,
      maxOutageMs: o.maxOutageMs,
      onBack: (silentMs) => {
        for (const task of this.tasks.values()) task.excludeFromIdle(silentMs);
      },
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => this.fail(payload.error));
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.assigned = new Set(payload.memberAssignment[input] ?? []);
      this.running = true;
      void this.queue.run(() => this.rebalance()).catch((err) => this.fail(err));
    });
    await consumer.connect();
    await consumer.subscribe({ topic: input, fromBeginning: true });
    this.timer = setInterval(() => {
      void this.queue.run(() => this.tick()).catch((err) => this.fail(err));
    }, Math.min(50, o.commitIntervalMs));
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => this.delivery.delivered(payload.partition, Number(payload.lastOffset) + 1));
    const stallMs = o.sessionTimeoutMs + o.transactionTimeoutMs;
    this.watchdog = setInterval(() => {
      const liveness = this.liveness;
      if (!this.alive || !liveness) return;
      const now = Date.now();
      const stall = stallOf({ now, stallMs, lastAnswer: liveness.lastAnswer, busySince: this.queue.busySince, restoring: this.restoring, restoredAt: this.restoredAt });
      if (stall) this.stalled(stall);
      else if (now - this.deliveryCheckAt >= DELIVERY_CHECK_MS && !this.deliveryCheckRunning && !this.restoring) {
        this.deliveryCheckAt = now;
        this.deliveryCheckRunning = true;
        void this.checkDelivery(stallMs)
          .catch((err) => o.logger.debug({ err }, 'delivery check failed'))
          .finally(() => (this.deliveryCheckRunning = false));
      }
    }, 1000).unref();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        try {
          // A session that ends while this batch waits (see stallOf) lets the consumer go at once.
          const outcome = await this.end.race(this.queue.run(async () => {
            if (!this.alive || !isRunning() || isStale()) return;
            const last = await this.processBatch(batch.partition, batch.messages);
            if (last !== null) {
              resolveOffset(last);
              if (Number(batch.highWatermark) - Number(last) > CATCH_UP_LAG) this.catchingUp.add(batch.partition);
              else this.catchingUp.delete(batch.partition);
            }
            if (this.commitDue(Date.now())) await this.flush();
          }));
          if (outcome === ENDED) return;
        } catch (err) {
          // Not rethrown: kafkajs would log it and retry the batch into state that may be ahead.
          this.fail(err);
          return;
        }
        await heartbeat();
      },
    });
    this.running = true;
  }

  async close(graceful: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.liveness?.close();
    if (graceful && this.alive) {
      await this.queue.run(() => this.flush()).catch((err) => this.o.logger.error({ err }, 'final commit failed'));
    }
    this.alive = false;
    this.running = false;
    this.endWith(null);
    for (const t of this.tasks.values()) t.close();
    this.tasks.clear();
    const quietly = async (what: string, f: (() => Promise<void>) | undefined) => {
      if (!f) return;
      await Promise.race([f().catch((err) => this.o.logger.debug({ err, what }, 'disconnect failed')), new Promise((r) => setTimeout(r, TEARDOWN_TIMEOUT_MS).unref())]);
    };
    await quietly('consumer', this.consumer ? () => (this.consumer as Consumer).disconnect() : undefined);
    await Promise.all([
      quietly('producer', this.producer ? () => (this.producer as Producer).disconnect() : undefined),
      quietly('admin', this.admin ? () => (this.admin as Admin).disconnect() : undefined),
    ]);
  }

  private stalled(why: string): void {
    this.fail(new AppError('KAFKA_UNAVAILABLE', `${why}; replacing the session, which resumes from the last commit`, { retryable: true }));
  }

  /** Reads the input's log ends (a separate client from the consumer) and asks the DeliveryWatch whether records wait undelivered. */
  private async checkDelivery(stallMs: number): Promise<void> {
    if (this.tasks.size === 0) return;
    // Bounded: a read that never returns would end every later check (after a broker died, a failover
    // run logged two failed reads and then no check at all). The next one starts DELIVERY_CHECK_MS later.
    let timer: NodeJS.Timeout | undefined;
    const ends = await Promise.race([
      (this.admin as Admin).fetchTopicOffsets(this.o.input.topic.name),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no log ends within ${DELIVERY_CHECK_MS} ms`)), DELIVERY_CHECK_MS))),
    ]).finally(() => clearTimeout(timer));
    if (!this.alive || this.restoring) return;
    const now = Date.now();
    for (const e of ends) {
      const task = this.tasks.get(e.partition);
      if (!task) continue;
      this.delivery.observe(e.partition, this.delivery.position(e.partition, Math.max(task.nextExpectedOffset, Number(e.low))), Number(e.high), now);
    }
    const s = this.delivery.stalled(now, stallMs, this.restoredAt);
    if (s) this.stalled(`records wait on partition ${s.partition} (offsets ${s.position} to ${s.logEnd}) and the consumer has delivered none for ${s.waitedMs} ms`);
  }

  /** Processes one fetched batch in order; returns the last offset handled (for the fetch position). */
  private async processBatch(partition: number, messages: ReadonlyArray<{ offset: string; key: Buffer | null; value: Buffer | null; headers?: Message['headers'] }>): Promise<string | null> {
    if (!this.assigned.has(partition)) return null;
    if (!this.tasks.has(partition)) await this.open([partition]);
    const task = this.tasks.get(partition) as PartitionTask<In, Out>;
    const { input } = this.o;
    const now = Date.now();
    let last: string | null = null;
    let n = 0;
    for (const message of messages) {
      const offset = Number(message.offset);
      let value: In;
      try {
        const decoded = input.decode(message.value);
        value = decoded instanceof Promise ? await decoded : decoded;
      } catch (err) {
        const appErr = toAppError(err, 'DECODE_FAILED');
        if (appErr.retryable) throw appErr;
        if (task.reject(offset)) {
          this.push(this.o.deadLetters.topic.name, this.o.deadLetters.queue.record({ topic: input.topic.name, partition, offset: message.offset, key: message.key, value: message.value }, appErr));
        }
        last = message.offset;
        continue;
      }
      // After an await, the partition may have moved: stop at once.
      if (!this.alive || !this.assigned.has(partition)) break;
      let result;
      try {
        result = task.process(offset, message.key, value, input.timestamp(value), now);
      } catch (err) {
        throw new ProcessorFailure(err, partition);
      }
      if (result === 'late') {
        this.m.late.inc();
        if (this.o.lateTopic) this.push(this.o.lateTopic.name, { key: message.key, value: message.value, headers: { 'kmarket.late.partition': String(partition), 'kmarket.late.offset': message.offset } });
      }
      last = message.offset;
      n++;
    }
    this.m.recordsIn.inc(n);
    return last;
  }

  /** Flushes and drops partitions that moved away, then restores the newly assigned ones. */
  private async rebalance(): Promise<void> {
    if (!this.alive) return;
    // What was processed is committed before another member may start on it (kafkajs has no KIP-447
    // fencing), and kept partitions resume from a commit that includes all of it.
    await this.flush();
    const lost = [...this.tasks.keys()].filter((p) => !this.assigned.has(p));
    if (lost.length > 0) {
      for (const p of lost) {
        this.tasks.get(p)?.close();
        this.tasks.delete(p);
        this.lastCommitted.delete(p);
        this.previousEnds.delete(p);
        this.catchingUp.delete(p);
        this.delivery.forget(p);
      }
      this.o.logger.info({ lost }, 'partitions moved to another instance');
    }
    const gained = [...this.assigned].filter((p) => !this.tasks.has(p));
    if (gained.length > 0) await this.open(gained);
  }

  /** Restores the stores and checkpoints of partitions and starts their tasks. */
  private async open(partitions: number[]): Promise<void> {
    const o = this.o;
    const timer = this.m.restore.startTimer();
    const [committed] = await (this.admin as Admin).fetchOffsets({ groupId: o.applicationId, topics: [o.input.topic.name] });
    const now = Date.now();
    const fresh = new Map<number, PartitionTask<In, Out>>();
    const resumedFrom: Record<number, { offset: number; processedUpTo: number; streamTime: string } | null> = {};
    for (const partition of partitions) {
      const task = new PartitionTask<In, Out>(partition, o.processor(partition), o.stores ?? [], { idleMs: o.idleMs }, (output, key, value, ts) => this.forward(partition, output, key, value, ts), now);
      fresh.set(partition, task);
    }
    this.restoring = true;
    const restored = await this.restoreStores(fresh).finally(() => {
      this.restoring = false;
      this.restoredAt = Date.now();
    });
    for (const [partition, task] of fresh) {
      const p = committed?.partitions.find((x) => x.partition === partition);
      const cp = p ? decodeCheckpointMetadata(Number(p.offset), p.metadata) : null;
      try {
        task.start(cp);
      } catch (err) {
        throw new ProcessorFailure(err, partition);
      }
      if (cp) this.lastCommitted.set(partition, `${cp.offset}:${encodeCheckpointMetadata(cp)}`);
      resumedFrom[partition] = cp && { offset: cp.offset, processedUpTo: cp.processedUpTo, streamTime: Number.isFinite(cp.streamTime) ? new Date(cp.streamTime / 1000).toISOString() : String(cp.streamTime) };
      this.tasks.set(partition, task);
    }
    timer();
    o.logger.info({ partitions, restoredRecords: restored, resumedFrom }, 'partitions assigned and restored');
  }

  /**
   * Reads each store's changelog partitions to their end (read_committed) into the new tasks'
   * stores. kafkajs cannot assign partitions by hand, so a throw-away group reads the changelogs
   * and pauses the partitions it does not need.
   */
  private async restoreStores(tasks: Map<number, PartitionTask<In, Out>>): Promise<number> {
    const stores = this.o.stores ?? [];
    if (stores.length === 0) return 0;
    const admin = this.admin as Admin;
    const byTopic = new Map(stores.map((s) => [this.changelogTopic(s.name).name, s.name]));
    const remaining = new Map<string, number>(); // `${topic}:${partition}` → end offset
    for (const topic of byTopic.keys()) {
      for (const e of await untilBrokerAnswers(`end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic))) {
        if (tasks.has(e.partition) && Number(e.high) > Number(e.low)) remaining.set(`${topic}:${e.partition}`, Number(e.high));
      }
    }
    if (remaining.size === 0) return 0;
    let records = 0;
    const groupId = `${this.o.applicationId}-restore-${randomBytes(4).toString('hex')}`;
    const consumer = this.kafka.consumer({ groupId, readUncommitted: false, maxBytesPerPartition: 8 * 1024 * 1024, retry: { ...consumerRetry(this.o.sessionTimeoutMs), restartOnFailure: async () => false } });
    let done!: () => void;
    let failed!: (err: unknown) => void;
    const finished = new Promise<void>((resolve, reject) => {
      done = resolve;
      failed = reject;
    });
    const advance = (topic: string, partition: number, lastOffset: string | null) => {
      const k = `${topic}:${partition}`;
      const end = remaining.get(k);
      if (end !== undefined && lastOffset !== null && Number(lastOffset) + 1 >= end) remaining.delete(k);
      if (remaining.size === 0) done();
    };
    consumer.on(consumer.events.CRASH, ({ payload }) => failed(payload.error));
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        const unneeded = partitions.filter((p) => !remaining.has(`${topic}:${p}`));
        if (unneeded.length > 0) consumer.pause([{ topic, partitions: unneeded }]);
      }
    });
    // Batches of control records only (transaction markers) never reach eachBatch, but end here.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => advance(payload.topic, payload.partition, payload.lastOffset));
    try {
      await consumer.connect();
      for (const topic of byTopic.keys()) await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const task = tasks.get(batch.partition);
          if (!task || !remaining.has(`${batch.topic}:${batch.partition}`)) return;
          const store = task.storeForRestore(byTopic.get(batch.topic) as string);
          for (const m of batch.messages) store.restore((m.key as Buffer).toString('utf8'), m.value);
          records += batch.messages.length;
        },
      });
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        finished,
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new AppError('KAFKA_UNAVAILABLE', 'changelog restore did not reach the end within 120 s', { retryable: true })), 120_000);
        }),
      ]).finally(() => clearTimeout(timeout));
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
    return records;
  }

  private changelogTopic(store: string): TopicSpec {
    return {
      name: changelogTopicName(this.o.applicationId, store),
      partitions: this.changelogPartitions,
      config: { 'cleanup.policy': 'compact', 'segment.ms': String(3600_000), 'min.cleanable.dirty.ratio': '0.1' },
    };
  }

  private forward(partition: number, output: string, key: string, value: unknown, timestampMicros: number | undefined): void {
    const spec = this.encoders.get(output);
    if (!spec) throw new Error(`unknown output ${output} (partition ${partition})`);
    const message: Message = { key, value: spec.encode(value) };
    if (timestampMicros !== undefined) message.timestamp = String(Math.floor(timestampMicros / 1000));
    this.push(spec.topic.name, message);
  }

  private push(topic: string, message: Message): void {
    let list = this.pending.get(topic);
    if (!list) {
      list = [];
      this.pending.set(topic, list);
    }
    list.push(message);
    this.pendingCount++;
  }

  /** Wall-clock punctuation, idle partitions, and the commit when it is due. */
  private async tick(): Promise<void> {
    if (!this.alive || this.tasks.size === 0) return;
    const now = Date.now();
    const outages = this.liveness?.outages ?? 0;
    const idle = await this.confirmIdle(now);
    // A check that waited out (part of) an outage says nothing about quiet input: see excludeFromIdle.
    if (!this.reachable || (this.liveness?.outages ?? 0) !== outages) idle.clear();
    const pendingBefore = this.pendingCount;
    for (const [partition, task] of this.tasks) {
      try {
        task.punctuateWall(now);
        if (idle.has(partition)) task.advanceIdle(now);
      } catch (err) {
        throw new ProcessorFailure(err, partition);
      }
    }
    // Outputs of this tick (wall-clock punctuation, or an idle partition's stream time) are live.
    if (this.commitDue(now, this.pendingCount > pendingBefore)) await this.flush();
  }

  private commitDue(now: number, punctuatedOutputs = false): boolean {
    return commitDue(this.o, { sinceLastCommitMs: now - this.lastCommitStartedAt, catchingUp: this.catchingUp.size > 0, pendingOutputs: this.pendingCount, punctuatedOutputs });
  }

  /**
   * Which idle candidates really are idle: their log holds nothing we have not processed. The end
   * of a log may be a transaction marker (high = next + 1); that counts as idle only when the same
   * end was seen at the previous check with no progress since, since a real record there would
   * have been fetched in between.
   */
  private async confirmIdle(now: number): Promise<Set<number>> {
    const idle = new Set<number>();
    const candidates: Array<[number, number]> = [];
    for (const [partition, task] of this.tasks) {
      const next = task.idleCandidate(now);
      if (next !== null) candidates.push([partition, next]);
    }
    if (candidates.length === 0 || now - this.lastIdleCheck < 250) return idle;
    this.lastIdleCheck = now;
    const ends = await (this.admin as Admin).fetchTopicOffsets(this.o.input.topic.name);
    for (const [partition, nextOffset] of candidates) {
      const high = Number(ends.find((e) => e.partition === partition)?.high ?? Number.POSITIVE_INFINITY);
      const seen = `${high}:${nextOffset}`;
      if (nextOffset >= high || (nextOffset === high - 1 && this.previousEnds.get(partition) === seen)) idle.add(partition);
      this.previousEnds.set(partition, seen);
    }
    return idle;
  }

  /** One transaction: every pending output and changelog record, plus the checkpoints they derive from. */
  private async flush(): Promise<void> {
    if (!this.alive) return;
    const offsets: Array<{ partition: number; offset: string; metadata: string }> = [];
    for (const [partition, task] of this.tasks) {
      for (const { store, entries } of task.takeChangelog()) {
        const topic = changelogTopicName(this.o.applicationId, store);
        for (const e of entries) this.push(topic, { key: e.key, value: e.value, partition });
      }
      const cp = task.checkpoint();
      if (!cp) continue;
      const metadata = encodeCheckpointMetadata(cp);
      if (this.lastCommitted.get(partition) !== `${cp.offset}:${metadata}`) offsets.push({ partition, offset: String(cp.offset), metadata });
    }
    if (this.pendingCount === 0 && offsets.length === 0) return;
    const out = this.pending;
    this.pending = new Map();
    this.pendingCount = 0;
    // Counted from the end of the previous commit, an interval of 100 ms gave 6.6-7.6 commits a second
    // (each takes 20-35 ms, then waits for the next 50 ms tick), and outputs waited that much longer.
    const startedAt = Date.now();
    const timer = this.m.transaction.startTimer();
    const txn = await (this.producer as Producer).transaction();
    try {
      for (const topicMessages of sendChunks(out)) await txn.sendBatch({ topicMessages, acks: -1 });
      if (offsets.length > 0) {
        await txn.sendOffsets({ consumerGroupId: this.o.applicationId, topics: [{ topic: this.o.input.topic.name, partitions: offsets }] });
      }
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
    timer();
    for (const cp of offsets) this.lastCommitted.set(cp.partition, `${cp.offset}:${cp.metadata}`);
    this.lastCommitStartedAt = startedAt;
  }
}
