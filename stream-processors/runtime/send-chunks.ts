import type { IHeaders, Message, TopicMessages } from 'kafkajs';

/**
 * The most record bytes one `sendBatch` of a transaction carries. The broker refuses a record batch
 * above its `message.max.bytes` (1 MiB by default) with MESSAGE_TOO_LARGE, and kafkajs puts all of a
 * send's messages for one partition into one batch; a transaction's outputs have no bound of their
 * own (a catch-up commits once per fetched input batch: 4 MiB of 1 s candles gave the 1 s indicators
 * ≈ 10 MiB of output), and a refused send is replayed into the same refusal for ever.
 */
export const MAX_SEND_BYTES = 512 * 1024;

/** Per-record framing besides key, value and headers (length varints, attributes, deltas). */
const RECORD_OVERHEAD_BYTES = 24;

function bytes(v: Buffer | string | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

function headerBytes(headers: IHeaders | undefined): number {
  let n = 0;
  for (const [k, v] of Object.entries(headers ?? {})) {
    for (const x of Array.isArray(v) ? v : [v]) n += Buffer.byteLength(k) + bytes(x as Buffer | string | undefined);
  }
  return n;
}

/**
 * Splits a transaction's outputs (topic → messages, in order) into sends of at most `maxBytes` of
 * records each (a single larger record goes alone). Sent one after the other in the same transaction,
 * they keep every partition's order and commit or abort together.
 */
export function sendChunks(out: ReadonlyMap<string, readonly Message[]>, maxBytes = MAX_SEND_BYTES): TopicMessages[][] {
  const chunks: TopicMessages[][] = [];
  let chunk = new Map<string, Message[]>();
  let size = 0;
  const close = () => {
    if (chunk.size > 0) chunks.push([...chunk].map(([topic, messages]) => ({ topic, messages })));
    chunk = new Map();
    size = 0;
  };
  for (const [topic, messages] of out) {
    for (const m of messages) {
      const n = bytes(m.key) + bytes(m.value) + headerBytes(m.headers) + RECORD_OVERHEAD_BYTES;
      if (size > 0 && size + n > maxBytes) close();
      let list = chunk.get(topic);
      if (!list) chunk.set(topic, (list = []));
      list.push(m);
      size += n;
    }
  }
  close();
  return chunks;
}
