import type { Message } from 'kafkajs';
import type { Logger } from '../../lib/logger.js';
import type { KisMetrics } from './metrics.js';
import type { MessageSink } from './output.js';
import type { Spool, SpoolPosition } from './spool.js';
import { decodeFrame, encodeFrame, frameBytes, type SpooledFrame } from './spool-frame.js';

export interface SpoolingSinkOptions {
  /** Bytes of frames handed to Kafka and not yet acknowledged, at most; beyond, frames go to the spool. */
  maxBufferBytes: number;
  /** A frame unacknowledged this long means Kafka is away (health 503): frames go to the spool. */
  maxBufferAgeMs: number;
  /** How often what was spooled is fsynced. */
  fsyncMs: number;
}

/** A frame handed to Kafka, until Kafka acknowledges it. */
interface InFlight {
  frame: SpooledFrame;
  bytes: number;
  handedAt: number;
  /** Where the frame ends in the spool, if it is there too (replayed, or written when spooling began). */
  position: SpoolPosition | undefined;
}

/** Frames read from or written to the spool in one go, so neither blocks the socket reads long. */
const REPLAY_CHUNK_FRAMES = 2_000;
const REPLAY_CHUNK_BYTES = 4 * 1024 * 1024;
const CHECK_INTERVAL_MS = 250;

/**
 * Keeps what KIS sent while Kafka cannot take it (KIS does not replay). Between the frame processor
 * and KafkaOutput, in one of two modes:
 *
 * - direct (the spool is empty): frames go to Kafka at once and are held in memory until acknowledged;
 * - spooling: once the held frames pass `maxBufferBytes`, or the oldest waited `maxBufferAgeMs`, or
 *   KafkaOutput has too many pending messages, the held frames are written to the spool too and every
 *   new frame is appended behind them; the spool is replayed into Kafka in order, and only when all of
 *   it is acknowledged do frames go direct again. So every partition sees its messages in arrival
 *   order, and the WebSocket keeps being read during an outage.
 *
 * A frame is dropped only when it is not held in memory (spooling) and the spool refuses it (full):
 * counted, with one error line when dropping starts and one with the count when it ends.
 *
 * Contract with the runtime: `settled(n)` is called as KafkaOutput acknowledges frames, in frameDone
 * order; `pressure(true)` when KafkaOutput has too many pending messages; `start()` runs the timers
 * (age check, metrics, fsync), which tests replace by calling `check()`.
 */
export class SpoolingSink implements MessageSink {
  private current: SpooledFrame['messages'] = [];
  private readonly inFlight: InFlight[] = [];
  private inFlightBytes = 0;
  private spooling: boolean;
  private away = false;
  /** The incident (from Kafka away to the spool drained) was reported: Kafka may come and go within it. */
  private incidentLogged = false;
  private recoveryLogged = false;
  private toWrite: SpooledFrame[] = [];
  private writeQueued = false;
  private pumpQueued = false;
  private dropping: { frames: number; messages: number; since: number } | null = null;
  private replayedThisIncident = 0;
  private tornSeen = 0;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly inner: MessageSink,
    private readonly spool: Spool,
    private readonly options: SpoolingSinkOptions,
    private readonly metrics: KisMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    metrics.bufferLimitBytes.set(options.maxBufferBytes);
    metrics.bufferLimitAgeSeconds.set(options.maxBufferAgeMs / 1000);
    metrics.spoolLimitBytes.set(spool.limitBytes);
    this.spooling = !spool.isEmpty;
    if (this.spooling) {
      logger.warn({ spoolBytes: spool.bytes }, 'the spool holds frames of an earlier run: replaying them before anything new');
      this.queuePump();
    }
    this.updateMetrics();
  }

  /** Runs the periodic age check and fsync. */
  start(): void {
    this.timers.push(setInterval(() => this.check(), CHECK_INTERVAL_MS).unref());
    this.timers.push(setInterval(() => void this.spool.sync(), this.options.fsyncMs).unref());
  }

  push(topic: string, message: Message): void {
    this.current.push({ topic, message });
  }

  frameDone(receivedMs: number): void {
    const frame: SpooledFrame = { receivedMs, messages: this.current };
    this.current = [];
    const bytes = frameBytes(frame.messages);
    const tooOld = this.noteAge();
    if (!this.spooling && (this.inFlightBytes + bytes > this.options.maxBufferBytes || tooOld)) {
      this.startSpooling(tooOld ? 'buffer too old' : 'buffer full');
    }
    if (this.spooling) {
      this.toWrite.push(frame);
      this.queueWrite();
    } else {
      this.handOver(frame, bytes, undefined);
    }
  }

  /** KafkaOutput acknowledged the next `count` frames handed to it. */
  settled(count: number): void {
    let last: SpoolPosition | undefined;
    for (const f of this.inFlight.splice(0, count)) {
      this.inFlightBytes -= f.bytes;
      if (f.position) last = f.position;
    }
    if (last) this.spool.ack(last);
    if (this.away && this.oldestAgeMs() <= this.options.maxBufferAgeMs) {
      this.away = false;
      if (!this.recoveryLogged) this.logger.warn({ spoolBytes: this.spool.bytes }, 'Kafka acknowledges again; replaying the spool');
      this.recoveryLogged = true;
    }
    if (this.spooling) this.queuePump();
  }

  /** KafkaOutput has too many messages pending: spool instead of pausing the WebSocket reads. */
  pressure(paused: boolean): void {
    if (paused && !this.spooling) this.startSpooling('Kafka is behind');
  }

  /** Kafka has taken nothing for maxBufferAgeMs: health reports 503. */
  get kafkaAway(): boolean {
    return this.away;
  }

  health(): Record<string, unknown> {
    return {
      kafkaAcknowledging: !this.away,
      spooling: this.spooling,
      bufferFrames: this.inFlight.length,
      bufferBytes: this.inFlightBytes,
      spoolBytes: this.spool.bytes,
      dropping: this.dropping !== null,
    };
  }

  /** The age check, metrics and dropping report; every CHECK_INTERVAL_MS. */
  check(): void {
    if (this.noteAge() && !this.spooling) this.startSpooling('buffer too old');
    this.updateMetrics();
  }

  /** Whether the oldest frame in flight is past the age limit; marks Kafka away when it is. */
  private noteAge(): boolean {
    const age = this.oldestAgeMs();
    if (age <= this.options.maxBufferAgeMs) return false;
    if (!this.away) {
      this.away = true;
      // One line for the incident, not one per retry: the frames are safe (memory, then spool).
      if (!this.incidentLogged) this.logger.warn({ unacknowledgedMs: age, bufferFrames: this.inFlight.length }, 'Kafka has not acknowledged anything for a while; spooling frames to disk until it does (health 503)');
      this.incidentLogged = true;
    }
    return true;
  }

  /**
   * Shutdown: waits for Kafka to take what is in memory (up to `timeoutMs` through `flush`), and
   * writes to the spool what it did not take, so the next run sends it.
   */
  async close(flush: () => Promise<void>, timeoutMs: number): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.writePending();
    if (!this.spooling && this.inFlight.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([flush(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
      const unsent = this.inFlight.filter((f) => f.position === undefined);
      if (unsent.length > 0) {
        const written = this.spool.append(unsent.map((f) => encodeFrame(f.frame))).length;
        this.logger.warn({ frames: written, lost: unsent.length - written }, 'Kafka did not take every frame before shutdown: the rest is in the spool for the next run');
      }
    }
    await this.spool.sync();
    this.spool.close();
  }

  private oldestAgeMs(): number {
    const first = this.inFlight[0];
    return first ? this.now() - first.handedAt : 0;
  }

  /** Writes the frames held in memory to the spool too (a crash then loses none of them), then spools. */
  private startSpooling(reason: string): void {
    this.spooling = true;
    this.replayedThisIncident = 0;
    const held = this.inFlight.filter((f) => f.position === undefined);
    const positions = this.spool.append(held.map((f) => encodeFrame(f.frame)));
    positions.forEach((p, i) => ((held[i] as InFlight).position = p));
    // They are in Kafka's hands already: the replay starts behind them.
    this.spool.skipToEnd();
    this.logger.info({ reason, heldFrames: held.length, heldBytes: this.inFlightBytes }, 'spooling frames to disk until Kafka catches up');
  }

  private handOver(frame: SpooledFrame, bytes: number, position: SpoolPosition | undefined): void {
    for (const { topic, message } of frame.messages) this.inner.push(topic, message);
    this.inFlight.push({ frame, bytes, handedAt: this.now(), position });
    this.inFlightBytes += bytes;
    this.inner.frameDone(frame.receivedMs);
  }

  private queueWrite(): void {
    if (this.writeQueued) return;
    this.writeQueued = true;
    // The frames of one socket read are written together, before anything else runs.
    queueMicrotask(() => {
      this.writeQueued = false;
      this.writePending();
      this.queuePump();
    });
  }

  private writePending(): void {
    if (this.toWrite.length === 0) return;
    const frames = this.toWrite;
    this.toWrite = [];
    const written = this.spool.append(frames.map(encodeFrame)).length;
    this.metrics.spooledFrames.inc(written);
    if (written < frames.length) this.drop(frames.slice(written));
    else if (this.dropping) this.endDropping();
  }

  private drop(frames: readonly SpooledFrame[]): void {
    const messages = frames.reduce((n, f) => n + f.messages.length, 0);
    this.metrics.droppedMessages.inc(messages);
    if (!this.dropping) {
      this.dropping = { frames: 0, messages: 0, since: this.now() };
      this.logger.error({ spoolBytes: this.spool.bytes, bufferBytes: this.inFlightBytes }, 'memory buffer and spool are full: dropping frames from KIS until Kafka takes the spool');
    }
    this.dropping.frames += frames.length;
    this.dropping.messages += messages;
  }

  private endDropping(): void {
    const d = this.dropping;
    if (!d) return;
    this.dropping = null;
    this.logger.error({ droppedFrames: d.frames, droppedMessages: d.messages, forMs: this.now() - d.since }, 'the spool takes frames again; frames from KIS were dropped while it was full');
  }

  private queuePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Replays the spool into Kafka while the buffer has room; direct again once all of it is acknowledged. */
  pump(): void {
    if (!this.spooling) return;
    this.writePending();
    // While Kafka takes nothing, what is in flight probes it: more would only fill memory.
    if (this.inFlightBytes < this.options.maxBufferBytes / 2 && this.spool.hasUnread && (!this.away || this.inFlight.length === 0)) {
      const records = this.spool.read(REPLAY_CHUNK_FRAMES, REPLAY_CHUNK_BYTES);
      for (const { payload, end } of records) {
        const frame = decodeFrame(payload);
        this.handOver(frame, frameBytes(frame.messages), end);
      }
      this.replayedThisIncident += records.length;
      this.metrics.replayedFrames.inc(records.length);
      if (this.spool.hasUnread && this.inFlightBytes < this.options.maxBufferBytes / 2 && !this.away) this.queuePump();
    }
    if (this.spool.tornRecords > this.tornSeen) {
      this.metrics.tornRecords.inc(this.spool.tornRecords - this.tornSeen);
      this.logger.warn({ records: this.spool.tornRecords - this.tornSeen }, 'the spool ended in a record cut short (a crash while writing it): dropped');
      this.tornSeen = this.spool.tornRecords;
    }
    if (!this.spool.hasUnread && this.inFlight.length === 0 && this.toWrite.length === 0) {
      this.spool.clear();
      this.spooling = false;
      this.incidentLogged = false;
      this.recoveryLogged = false;
      if (this.dropping) this.endDropping();
      this.logger.info({ replayedFrames: this.replayedThisIncident }, 'the spool is replayed and acknowledged: sending directly again');
    }
    this.updateMetrics();
  }

  private updateMetrics(): void {
    const m = this.metrics;
    m.bufferBytes.set(this.inFlightBytes);
    m.bufferFrames.set(this.inFlight.length);
    m.bufferOldestSeconds.set(this.oldestAgeMs() / 1000);
    m.spoolBytes.set(this.spool.bytes);
    m.spooling.set(this.spooling ? 1 : 0);
  }
}
