import type { IHeaders, Message } from 'kafkajs';
import { messageBytes } from './output.js';

/** The Kafka messages made from one KIS frame, as they are spooled and replayed. */
export interface SpooledFrame {
  receivedMs: number;
  messages: Array<{ topic: string; message: Message }>;
}

const NONE = 0;
const STRING = 1;
const BYTES = 2;

/**
 * Binary form of a frame's encoded messages: topic, key, value, timestamp and headers of each, as
 * built (already Avro-encoded, so a replay needs neither the registry nor the parser). The partition
 * is left out: a replay routes by key like any message, so a changed partition count cannot strand
 * a record on a partition that no longer exists.
 */
export function encodeFrame(frame: SpooledFrame): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.allocUnsafe(12);
  head.writeDoubleLE(frame.receivedMs, 0);
  head.writeUInt32LE(frame.messages.length, 8);
  parts.push(head);
  for (const { topic, message } of frame.messages) {
    parts.push(str16(topic), field(message.key), field(message.value));
    parts.push(message.timestamp === undefined ? Buffer.from([NONE]) : Buffer.concat([Buffer.from([STRING]), str16(message.timestamp)]));
    const headers = headerPairs(message.headers);
    const count = Buffer.allocUnsafe(2);
    count.writeUInt16LE(headers.length, 0);
    parts.push(count);
    for (const [k, v] of headers) parts.push(str16(k), field(v));
  }
  return Buffer.concat(parts);
}

export function decodeFrame(buf: Buffer): SpooledFrame {
  let at = 0;
  const receivedMs = buf.readDoubleLE(0);
  const n = buf.readUInt32LE(8);
  at = 12;
  const readStr16 = (): string => {
    const len = buf.readUInt16LE(at);
    const s = buf.toString('utf8', at + 2, at + 2 + len);
    at += 2 + len;
    return s;
  };
  const readField = (): Buffer | string | null => {
    const kind = buf.readUInt8(at);
    if (kind === NONE) {
      at += 1;
      return null;
    }
    const len = buf.readUInt32LE(at + 1);
    const bytes = buf.subarray(at + 5, at + 5 + len);
    at += 5 + len;
    return kind === STRING ? bytes.toString('utf8') : Buffer.from(bytes);
  };
  const messages: SpooledFrame['messages'] = [];
  for (let i = 0; i < n; i++) {
    const topic = readStr16();
    const key = readField();
    const value = readField();
    const message: Message = { key, value };
    if (buf.readUInt8(at++) === STRING) message.timestamp = readStr16();
    const count = buf.readUInt16LE(at);
    at += 2;
    if (count > 0) {
      const headers: IHeaders = {};
      for (let h = 0; h < count; h++) {
        const k = readStr16();
        const v = readField() ?? '';
        const before = headers[k];
        headers[k] = before === undefined ? v : [...(Array.isArray(before) ? before : [before]), v];
      }
      message.headers = headers;
    }
    messages.push({ topic, message });
  }
  return { receivedMs, messages };
}

/** Bytes a frame's messages take in memory, about (what the buffer limit counts). */
export function frameBytes(messages: SpooledFrame['messages']): number {
  let n = 0;
  for (const { message } of messages) n += messageBytes(message);
  return n;
}

function str16(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const b = Buffer.allocUnsafe(2 + bytes.length);
  b.writeUInt16LE(bytes.length, 0);
  bytes.copy(b, 2);
  return b;
}

function field(v: Buffer | string | null | undefined): Buffer {
  if (v === null || v === undefined) return Buffer.from([NONE]);
  const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  const head = Buffer.allocUnsafe(5);
  head.writeUInt8(typeof v === 'string' ? STRING : BYTES, 0);
  head.writeUInt32LE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

function headerPairs(headers: IHeaders | undefined): Array<[string, Buffer | string]> {
  const out: Array<[string, Buffer | string]> = [];
  if (!headers) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push([k, one]);
  }
  return out;
}
