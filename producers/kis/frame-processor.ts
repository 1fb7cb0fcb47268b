import type { IHeaders } from 'kafkajs';
import type { DeadLetterQueue } from '../../lib/dlq.js';
import { toAppError, type AppError } from '../../lib/errors.js';
import { MICROS_PER_MS } from '../../lib/time.js';
import type { OrderBook, Tick } from '../../schemas/generated/types.js';
import type { KisCipher } from './crypto.js';
import { parseDataFrame, peekTrId, reasonOf } from './frame.js';
import { trLabel, type KisMetrics } from './metrics.js';
import type { MessageSink } from './output.js';
import { kstDateOf, readOrderBook, readTick } from './records.js';

/** Header of every raw frame: when the producer received it (epoch micros), for replays. */
export const RAW_RECEIVED_HEADER = 'kmarket.kis.received-micros';
export const RAW_SESSION_HEADER = 'kmarket.kis.session';

export interface FrameTopics {
  ticks: string;
  orderbook: string;
  raw: string;
}

export interface FrameProcessorDeps {
  sink: MessageSink;
  topics: FrameTopics;
  encodeTick(tick: Tick): Buffer;
  encodeBook(book: OrderBook): Buffer;
  dlq: DeadLetterQueue;
  metrics: KisMetrics;
}

/**
 * Turns data frames into Kafka messages: the raw text to raw.kis.v1 (always, first, so a parser fix can
 * be replayed), then one Tick or OrderBook per record. A frame that cannot be read goes to the DLQ
 * whole; a record that cannot be read goes there with its index while the frame's good records are
 * published (their trades are idempotent downstream, so replaying the frame later is safe).
 */
export class FrameProcessor {
  private readonly bookSequences = new Map<string, number>();

  constructor(private readonly d: FrameProcessorDeps) {}

  handle(text: string, receivedMicros: number, cipherFor: (trId: string) => KisCipher | undefined, session: number): void {
    const trId = peekTrId(text);
    const headers: IHeaders = { [RAW_RECEIVED_HEADER]: String(receivedMicros), [RAW_SESSION_HEADER]: String(session) };
    const { sink, topics, metrics } = this.d;
    sink.push(topics.raw, { key: trId, value: Buffer.from(text, 'utf8'), headers });
    metrics.frames.inc({ tr_id: trLabel(trId) });
    const receivedMs = receivedMicros / MICROS_PER_MS;

    let frame;
    try {
      frame = parseDataFrame(text, cipherFor);
    } catch (err) {
      this.dead(text, trId, toAppError(err, 'DECODE_FAILED'), headers, session);
      sink.frameDone(receivedMs);
      return;
    }
    const { fields, width, count, spec } = frame;
    let good = 0;
    const kstDate = spec.kind === 'book' ? kstDateOf(receivedMicros) : '';
    for (let i = 0; i < count; i++) {
      try {
        if (spec.kind === 'trade') {
          const tick = readTick(fields, i * width, receivedMicros, frame);
          sink.push(topics.ticks, { key: tick.symbol, value: this.d.encodeTick(tick), timestamp: String(Math.floor(tick.exchangeTime / MICROS_PER_MS)) });
        } else {
          const book = readOrderBook(fields, i * width, kstDate, receivedMicros, (s) => this.nextBookSequence(s), frame);
          sink.push(topics.orderbook, { key: book.symbol, value: this.d.encodeBook(book), timestamp: String(Math.floor(book.exchangeTime / MICROS_PER_MS)) });
        }
        good++;
      } catch (err) {
        this.dead(text, trId, toAppError(err, 'DECODE_FAILED'), headers, session, i);
      }
    }
    if (good > 0) metrics.records.inc({ tr_id: trLabel(trId) }, good);
    sink.frameDone(receivedMs);
  }

  /**
   * A frame the session could not read at all: a JSON frame that does not parse, or bytes that are not
   * UTF-8 (kept as received, byte for byte).
   */
  unreadable(frame: string | Buffer, receivedMicros: number, err: AppError, session: number): void {
    const headers: IHeaders = { [RAW_RECEIVED_HEADER]: String(receivedMicros), [RAW_SESSION_HEADER]: String(session) };
    const bytes = typeof frame === 'string' ? Buffer.from(frame, 'utf8') : frame;
    const head = bytes.subarray(0, 40).toString('latin1');
    const trId = head.startsWith('{') ? 'json' : peekTrId(head);
    this.d.sink.push(this.d.topics.raw, { key: trId, value: bytes, headers });
    this.dead(bytes, trId, err, headers, session);
    this.d.sink.frameDone(receivedMicros / MICROS_PER_MS);
  }

  private nextBookSequence(symbol: string): number {
    const n = (this.bookSequences.get(symbol) ?? 0) + 1;
    this.bookSequences.set(symbol, n);
    return n;
  }

  private dead(frame: string | Buffer, trId: string, err: AppError, headers: IHeaders, session: number, record?: number): void {
    const reason = reasonOf(err);
    this.d.metrics.parseErrors.inc({ tr_id: trLabel(trId), reason });
    const context: Record<string, string> = { trId: trId.slice(0, 20), reason, session: String(session) };
    if (record !== undefined) context['record'] = String(record);
    this.d.sink.push(this.d.dlq.topic, this.d.dlq.record({ key: trId, value: typeof frame === 'string' ? Buffer.from(frame, 'utf8') : frame, headers, context }, err));
  }
}
