import type { Message, Producer, TopicMessages } from 'kafkajs';
import type { Logger } from '../../lib/logger.js';
import type { KisMetrics } from './metrics.js';

/** Where the frame processor puts its messages (Kafka in the service, an array in unit tests). */
export interface MessageSink {
  push(topic: string, message: Message): void;
  /** Marks the end of one frame's messages: its latency is observed when they are all acknowledged. */
  frameDone(receivedMs: number): void;
}

export interface KafkaOutputOptions {
  /** Upper bound of one produce request (the broker refuses record batches over message.max.bytes, 1 MB). */
  maxBatchBytes: number;
  /** Upper bound of messages in one request. */
  maxBatchMessages: number;
  /** How long the first message waits for company when nothing is in flight. */
  lingerMs: number;
  /** Above this many pending messages the sessions stop reading; below half of it they read again. */
  highWater: number;
  /**
   * In-thread producers: a failed request is sent again, the same request (so the idempotent
   * producer's sequence numbers, and the broker's dedup of them, still apply), after a back-off
   * doubling up to this. Unset: a failure stops the output (onFatal).
   */
  retryMaxMs?: number;
}

/** First back-off after a failed request. */
const RETRY_BASE_MS = 100;

/**
 * What sends the produce requests. A `pipelined` sender (a producer in a worker thread) takes
 * requests back to back and completes them in order; the others get one request at a time.
 */
export type Sender = Pick<Producer, 'sendBatch'> & { readonly pipelined?: boolean };

interface Entry {
  topic: string;
  message: Message;
  bytes: number;
}

/** One producer and the messages of the partitions it owns. */
interface Lane {
  sender: Sender;
  pending: Entry[];
  pushed: number;
  sent: number;
  /** Batching lanes: the request loop while it runs. Pipelined lanes: the last request handed over. */
  draining: Promise<void> | null;
  timer: NodeJS.Timeout | null;
}

/**
 * Batches messages into produce requests. A lane with an in-thread producer has one request in
 * flight at a time, so the idempotent producer keeps each of its partitions in order, and while a
 * request is out the next batch fills up: the batch size follows the load. A pipelined lane (a
 * worker thread running a KafkaOutput of its own) gets the messages of the frames read so far at the
 * end of each callback: when this thread is busy reading a backlog, the worker keeps sending instead
 * of waiting for this thread to cut its next batch. With several lanes a router assigns every
 * partition to exactly one lane, so order per partition holds across lanes.
 */
export class KafkaOutput implements MessageSink {
  private readonly lanes: Lane[];
  /** Frame markers: each lane's push count at the frame's end, and when the frame arrived. */
  private frames: Array<{ ends: number[]; receivedMs: number }> = [];
  private pendingTotal = 0;
  private pausedValue = false;
  private failure: unknown = null;
  private handOverQueued = false;

  constructor(
    senders: readonly Sender[],
    private readonly options: KafkaOutputOptions,
    private readonly metrics: KisMetrics,
    private readonly logger: Logger,
    private readonly hooks: {
      onPressure(paused: boolean): void;
      onFatal(err: unknown): void;
      /** `count` more frames are acknowledged by Kafka, in frameDone order. */
      onFramesSettled?(count: number): void;
    },
    private readonly route: (topic: string, message: Message) => number = () => 0,
  ) {
    if (senders.length === 0) throw new Error('KafkaOutput needs at least one sender');
    this.lanes = senders.map((sender) => ({ sender, pending: [], pushed: 0, sent: 0, draining: null, timer: null }));
  }

  get paused(): boolean {
    return this.pausedValue;
  }

  get pendingCount(): number {
    return this.pendingTotal;
  }

  push(topic: string, message: Message): void {
    const lane = this.lanes[this.lanes.length === 1 ? 0 : this.route(topic, message)] as Lane;
    const bytes = messageBytes(message);
    lane.pending.push({ topic, message, bytes });
    lane.pushed++;
    this.pendingTotal++;
    if (!this.pausedValue && this.pendingTotal >= this.options.highWater) {
      this.pausedValue = true;
      this.logger.warn({ pending: this.pendingTotal }, 'Kafka is behind: pausing the WebSocket reads');
      this.hooks.onPressure(true);
    }
  }

  frameDone(receivedMs: number): void {
    this.frames.push({ ends: this.lanes.map((l) => l.pushed), receivedMs });
    for (const lane of this.lanes) {
      if (lane.pending.length === 0) continue;
      if (lane.sender.pipelined) this.queueHandOver();
      else this.schedule(lane);
    }
  }

  /**
   * Hands the pipelined lanes' messages over once the current callback is done: the WebSocket emits
   * every frame of a socket read in one go, so they travel to the worker in one message (a message
   * per one-record frame cost more than the frame itself).
   */
  private queueHandOver(): void {
    if (this.handOverQueued) return;
    this.handOverQueued = true;
    queueMicrotask(() => {
      this.handOverQueued = false;
      for (const lane of this.lanes) if (lane.sender.pipelined && lane.pending.length > 0) this.handOver(lane);
    });
  }

  /** Sends all of a pipelined lane's pending messages now, behind the requests already out. */
  private handOver(lane: Lane): void {
    if (this.failure) return;
    const batch = lane.pending.splice(0);
    const { topicMessages, byTopic } = requestOf(batch);
    lane.draining = lane.sender.sendBatch({ acks: -1, topicMessages }).then(
      () => this.acknowledged(lane, batch.length, byTopic),
      (err: unknown) => this.fail(err),
    );
  }

  private schedule(lane: Lane): void {
    if (lane.draining || lane.timer || this.failure) return;
    lane.timer = setTimeout(() => {
      lane.timer = null;
      this.startDrain(lane);
    }, this.options.lingerMs);
  }

  private startDrain(lane: Lane): void {
    lane.draining = this.drain(lane).finally(() => {
      lane.draining = null;
      if (lane.pending.length > 0 && !this.failure) this.schedule(lane);
    });
  }

  private async drain(lane: Lane): Promise<void> {
    while (lane.pending.length > 0 && !this.failure) {
      let n = 0;
      let bytes = 0;
      const most = Math.min(lane.pending.length, this.options.maxBatchMessages);
      while (n < most && (n === 0 || bytes + (lane.pending[n] as Entry).bytes <= this.options.maxBatchBytes)) {
        bytes += (lane.pending[n] as Entry).bytes;
        n++;
      }
      const { topicMessages, byTopic } = requestOf(lane.pending.splice(0, n));
      for (let attempt = 1; ; attempt++) {
        try {
          await lane.sender.sendBatch({ acks: -1, topicMessages });
          if (attempt > 1) this.logger.info({ attempts: attempt }, 'Kafka took the request again');
          break;
        } catch (err) {
          const retryMaxMs = this.options.retryMaxMs;
          if (retryMaxMs === undefined || this.failure) {
            this.fail(err);
            return;
          }
          // One line per incident: the request is retried until Kafka takes it.
          if (attempt === 1) this.logger.warn({ err: String(err), messages: n }, 'Kafka refused or lost a produce request; sending it again until Kafka takes it');
          await new Promise((r) => setTimeout(r, Math.min(retryMaxMs, RETRY_BASE_MS * 2 ** (attempt - 1))));
        }
      }
      this.acknowledged(lane, n, byTopic);
    }
  }

  private acknowledged(lane: Lane, n: number, byTopic: ReadonlyMap<string, Message[]>): void {
    lane.sent += n;
    this.pendingTotal -= n;
    this.metrics.pending.set(this.pendingTotal);
    for (const [topic, messages] of byTopic) this.metrics.produced.inc({ topic }, messages.length);
    this.settleFrames();
    if (this.pausedValue && this.pendingTotal <= this.options.highWater / 2) {
      this.pausedValue = false;
      this.logger.info({ pending: this.pendingTotal }, 'Kafka caught up: resuming the WebSocket reads');
      this.hooks.onPressure(false);
    }
  }

  /**
   * kafkajs has retried already; what is left is not transient. Records in memory cannot be
   * recovered (KIS does not replay), so the service stops loudly instead of dropping silently.
   */
  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err;
    this.hooks.onFatal(err);
  }

  /** Observes the latency of every frame whose messages all lanes have had acknowledged. */
  private settleFrames(): void {
    const now = Date.now();
    let done = 0;
    for (const f of this.frames) {
      if (!f.ends.every((end, i) => end <= (this.lanes[i] as Lane).sent)) break;
      this.metrics.produceLatency.observe((now - f.receivedMs) / 1000);
      done++;
    }
    if (done > 0) {
      this.frames.splice(0, done);
      this.hooks.onFramesSettled?.(done);
    }
  }

  /** Resolves once everything pushed so far is acknowledged (or sending failed). */
  async flush(): Promise<void> {
    for (;;) {
      if (this.failure) return;
      const busy = this.lanes.filter((l) => l.pending.length > 0 || l.draining || l.timer);
      if (busy.length === 0) return;
      for (const lane of busy) {
        if (lane.timer) {
          clearTimeout(lane.timer);
          lane.timer = null;
        }
        if (lane.sender.pipelined) {
          if (lane.pending.length > 0) this.handOver(lane);
        } else if (!lane.draining && lane.pending.length > 0) this.startDrain(lane);
      }
      const waits = busy.map((l) => l.draining);
      await Promise.all(waits);
      // A pipelined lane is idle once the last request handed over (and nothing after it) is done.
      for (const [i, lane] of busy.entries()) if (lane.sender.pipelined && lane.draining === waits[i]) lane.draining = null;
    }
  }
}

/** A produce request of entries, per topic in arrival order, and the messages per topic. */
function requestOf(entries: readonly Entry[]): { topicMessages: TopicMessages[]; byTopic: Map<string, Message[]> } {
  const byTopic = new Map<string, Message[]>();
  for (const { topic, message } of entries) {
    const list = byTopic.get(topic);
    if (list) list.push(message);
    else byTopic.set(topic, [message]);
  }
  return { topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), byTopic };
}

/** Bytes a message takes in memory, about: what the batch limits and the outage buffer count. */
export function messageBytes(message: Message): number {
  return 64 + sizeOf(message.key) + sizeOf(message.value) + (message.headers ? 96 : 0);
}

function sizeOf(v: Message['key'] | Message['value']): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? v.length * 3 : v.length;
}
