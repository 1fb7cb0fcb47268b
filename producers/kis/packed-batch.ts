import type { IHeaders, Message, TopicMessages } from 'kafkajs';

/**
 * A produce request flattened for a worker thread: every value in one transferable ArrayBuffer (no
 * copy across threads, no per-message structured clone), keys and timestamps as plain string arrays.
 */
export interface PackedBatch {
  topics: string[];
  counts: number[];
  keys: Array<string | null>;
  timestamps: Array<string | null>;
  /** Partition chosen by the main thread's router, -1 to let the producer pick. */
  partitions: Int32Array;
  /** Start of value i in `data`; value i ends at offsets[i + 1]. A null value has length -1 in `nulls`. */
  offsets: Uint32Array;
  nulls: number[];
  data: ArrayBuffer;
  /** Headers of the few messages that have them (raw frames, dead letters), by message index. */
  headers: Array<[number, Record<string, string>]>;
}

function bytesOf(v: Message['value']): Buffer | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

export function packBatch(topicMessages: readonly TopicMessages[]): { batch: PackedBatch; transfer: ArrayBuffer[] } {
  let n = 0;
  let size = 0;
  const values: Array<Buffer | null> = [];
  for (const t of topicMessages) {
    for (const m of t.messages) {
      const b = bytesOf(m.value);
      values.push(b);
      size += b?.length ?? 0;
      n++;
    }
  }
  const data = new ArrayBuffer(size);
  const view = new Uint8Array(data);
  const offsets = new Uint32Array(n + 1);
  const keys: Array<string | null> = new Array(n);
  const timestamps: Array<string | null> = new Array(n);
  const partitions = new Int32Array(n);
  const nulls: number[] = [];
  const headers: PackedBatch['headers'] = [];
  let i = 0;
  let pos = 0;
  for (const t of topicMessages) {
    for (const m of t.messages) {
      const b = values[i] as Buffer | null;
      offsets[i] = pos;
      if (b === null) nulls.push(i);
      else {
        view.set(b, pos);
        pos += b.length;
      }
      keys[i] = m.key === null || m.key === undefined ? null : typeof m.key === 'string' ? m.key : m.key.toString('utf8');
      timestamps[i] = m.timestamp ?? null;
      partitions[i] = m.partition ?? -1;
      if (m.headers) headers.push([i, stringHeaders(m.headers)]);
      i++;
    }
  }
  offsets[n] = pos;
  return {
    batch: { topics: topicMessages.map((t) => t.topic), counts: topicMessages.map((t) => t.messages.length), keys, timestamps, partitions, offsets, nulls, data, headers },
    transfer: [data, offsets.buffer as ArrayBuffer, partitions.buffer as ArrayBuffer],
  };
}

function stringHeaders(h: IHeaders): Record<string, string> {
  // The producer's own headers are strings already: send the object as it is.
  if (Object.values(h).every((v) => typeof v === 'string')) return h as Record<string, string>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String).join(',') : typeof v === 'string' ? v : v.toString('utf8');
  }
  return out;
}

export function unpackBatch(batch: PackedBatch): TopicMessages[] {
  const data = Buffer.from(batch.data);
  const nulls = new Set(batch.nulls);
  const headers = new Map(batch.headers);
  const out: TopicMessages[] = [];
  let i = 0;
  batch.topics.forEach((topic, t) => {
    const messages: Message[] = new Array(batch.counts[t] as number);
    for (let j = 0; j < messages.length; j++, i++) {
      const start = batch.offsets[i] as number;
      const m: Message = {
        key: batch.keys[i] ?? null,
        value: nulls.has(i) ? null : data.subarray(start, batch.offsets[i + 1] as number),
      };
      const partition = batch.partitions[i] as number;
      if (partition >= 0) m.partition = partition;
      const ts = batch.timestamps[i];
      if (ts !== null && ts !== undefined) m.timestamp = ts;
      const h = headers.get(i);
      if (h) m.headers = h;
      messages[j] = m;
    }
    out.push({ topic, messages });
  });
  return out;
}
