import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';

// kafkajs internals patched by patches/kafkajs+2.2.4.patch (applied by `npm install`, see the README).
// Each is checked against an independent computation; the round trip through a real broker is
// test/integration/kafkajs-patches.test.ts.
const require = createRequire(import.meta.url);
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;
const Encoder = require('kafkajs/src/protocol/encoder.js') as {
  new (size?: number): EncoderInstance;
  sizeOfVarLong(v: unknown): number;
};
interface EncoderInstance {
  buffer: Buffer;
  writeVarLong(v: unknown): EncoderInstance;
  writeVarInt(v: number): EncoderInstance;
  writeUVarInt(v: number): EncoderInstance;
  writeInt32(v: number): EncoderInstance;
  writeVarIntBytes(v: Buffer | string | null): EncoderInstance;
}
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{
  firstTimestamp: string;
  maxTimestamp: string;
  records: Array<{ key: Buffer | null; value: Buffer | null; timestamp: string; offset: string; headers: Record<string, Buffer | Buffer[]> }>;
}>;
const Long = require('kafkajs/src/utils/long.js') as { fromNumber(n: number): unknown; fromValue(v: unknown): unknown };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => {
  readString(): string | null;
  readInt16(): number;
  readInt32(): number;
};
const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
  topic: string;
  partitionMetadata: unknown[];
  messages: Array<{ key: string }>;
  partitioner: (args: { message: { key: string } }) => number;
}) => Record<string, Array<{ key: string }>>;

/** CRC-32C bit by bit from the reflected Castagnoli polynomial: no tables at all. */
function referenceCrc32C(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Unsigned LEB128 of the 64-bit zigzag of n, with BigInt. */
function referenceVarLong(n: number): Buffer {
  let z = BigInt.asUintN(64, (BigInt(n) << 1n) ^ (BigInt(n) >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

test('kafkajs is installed with the project patches (npm install runs patch-package)', () => {
  for (const file of ['producer/groupMessagesPerPartition.js', 'producer/sendMessages.js', 'protocol/encoder.js', 'protocol/recordBatch/crc32C/crc32C.js', 'protocol/recordBatch/record/v0/index.js', 'protocol/requests/produce/v3/request.js', 'protocol/recordBatch/record/v0/decoder.js', 'protocol/recordBatch/v0/decoder.js', 'consumer/batch.js']) {
    assert.match(readFileSync(require.resolve(`kafkajs/src/${file}`), 'utf8'), /kmarket patch/, `${file} is patched`);
  }
});

test('the patched CRC-32C equals the bitwise definition for every length, alignment and the check value', () => {
  assert.equal(crc32C(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32C(Buffer.alloc(0)), 0);
  const data = randomBytes(4_200);
  for (let length = 0; length < 70; length++) {
    for (let start = 0; start < 9; start++) {
      const slice = data.subarray(start, start + length);
      assert.equal(crc32C(slice), referenceCrc32C(slice), `length ${length} at offset ${start}`);
    }
  }
  assert.equal(crc32C(data.subarray(3)), referenceCrc32C(data.subarray(3)));
});

test('varlongs: numbers take the int path only where the bytes are the same as the 64-bit encoding', () => {
  const values = [0, 1, -1, 63, -64, 64, -65, 8191, 1_000_000, -1_000_000, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 40, -(2 ** 45), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
  for (const v of values) {
    const expected = referenceVarLong(v);
    assert.deepEqual(new Encoder().writeVarLong(v).buffer, expected, `writeVarLong(${v})`);
    assert.deepEqual(new Encoder().writeVarLong(Long.fromNumber(v)).buffer, expected, `writeVarLong(Long ${v})`);
    assert.equal(Encoder.sizeOfVarLong(v), expected.length, `sizeOfVarLong(${v})`);
  }
});

test('an encoder that grows keeps exactly the bytes written (not zero-filled any more)', () => {
  const e = new Encoder(1);
  const expected: Buffer[] = [];
  for (let i = 0; i < 300; i++) {
    const bytes = randomBytes(i % 17);
    e.writeInt32(i).writeUVarInt(i * 1_000_003).writeVarIntBytes(bytes);
    const int = Buffer.alloc(4);
    int.writeInt32BE(i);
    expected.push(int, referenceUVarInt(i * 1_000_003), referenceVarLong(bytes.length), bytes);
  }
  assert.deepEqual(e.buffer, Buffer.concat(expected));
});

function referenceUVarInt(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

test('grouping a batch per partition keeps every message, in order, in its partition', () => {
  const messages = Array.from({ length: 5_000 }, (_, i) => ({ key: `k${i % 37}` }));
  const partitionOf = (key: string) => Number(key.slice(1)) % 6;
  const groups = groupMessagesPerPartition({ topic: 't', partitionMetadata: [1, 2, 3, 4, 5, 6], messages, partitioner: ({ message }) => partitionOf(message.key) });
  assert.deepEqual(Object.keys(groups).sort(), ['0', '1', '2', '3', '4', '5']);
  for (const [partition, group] of Object.entries(groups)) {
    assert.deepEqual(group, messages.filter((m) => partitionOf(m.key) === Number(partition)));
  }
  assert.deepEqual(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: () => 0 }), {});
});

test('a produce request carries the lowest and highest timestamp of its batch and every record as given', async () => {
  const produceV3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (args: unknown) => { encode(): Promise<EncoderInstance> };
  const times = ['1763600005000', '1763600001000', undefined, '1763600009000', '1763600003000'];
  const messages = times.map((timestamp, i) => ({
    key: i === 1 ? null : `k${i}`,
    value: i === 4 ? null : Buffer.from(`v${i}`),
    ...(timestamp ? { timestamp } : {}),
    ...(i === 0 ? { headers: { a: 'x', b: ['y', 'z'] } } : {}),
  }));
  const before = Date.now();
  const request = produceV3({ acks: -1, timeout: 30_000, topicData: [{ topic: 't', partitions: [{ partition: 2, firstSequence: 0, messages }] }] });
  const decoder = new Decoder((await request.encode()).buffer);
  assert.equal(decoder.readString(), null, 'no transactional id');
  assert.equal(decoder.readInt16(), -1);
  assert.equal(decoder.readInt32(), 30_000);
  assert.equal(decoder.readInt32(), 1, 'one topic');
  assert.equal(decoder.readString(), 't');
  assert.equal(decoder.readInt32(), 1, 'one partition');
  assert.equal(decoder.readInt32(), 2);
  decoder.readInt32(); // record set size
  const batch = await decodeRecordBatch(decoder);
  assert.equal(batch.firstTimestamp, '1763600001000', 'the lowest timestamp, not the first one');
  assert.equal(batch.maxTimestamp, '1763600009000');
  assert.equal(batch.records.length, 5);
  batch.records.forEach((r, i) => {
    const m = messages[i] as (typeof messages)[number];
    assert.equal(r.offset, String(i));
    assert.equal(r.key?.toString() ?? null, m.key);
    assert.equal(r.value?.toString() ?? null, m.value?.toString() ?? null);
    if (m.timestamp) assert.equal(r.timestamp, m.timestamp);
    else assert.ok(Number(r.timestamp) >= before && Number(r.timestamp) <= Date.now(), 'no timestamp: now');
  });
  assert.deepEqual(Object.fromEntries(Object.entries(batch.records[0]?.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : v.toString()])), { a: 'x', b: ['y', 'z'] });
});

const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (args: { offsetDelta: number; timestampDelta: unknown; key: Buffer | null; value: Buffer | null; headers?: Record<string, string> }) => unknown;
const { RecordBatch: encodeRecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (args: { firstOffset: unknown; firstTimestamp: unknown; maxTimestamp: unknown; lastOffsetDelta: number; records: unknown[] }) => Promise<EncoderInstance> };
const KafkaBatch = require('kafkajs/src/consumer/batch.js') as new (topic: string, fetchedOffset: string, data: { partition: number; highWatermark: string; abortedTransactions: unknown[]; messages: Array<{ offset: string; isControlRecord?: boolean }> }) => { messages: Array<{ offset: string }> };

/** A record batch as kafkajs's producer writes it, from BigInt values: every offset and timestamp is known exactly. */
async function recordBatchOf(firstOffset: bigint, firstTimestamp: bigint, timestampDeltas: bigint[]): Promise<Buffer> {
  const records = timestampDeltas.map((d, i) => encodeRecord({ offsetDelta: i, timestampDelta: Long.fromValue(d.toString()), key: i % 3 === 0 ? null : Buffer.from(`k${i}`), value: Buffer.from(`v${i}`), ...(i % 4 === 1 ? { headers: { h: `x${i}` } } : {}) }));
  const maxTimestamp = timestampDeltas.reduce((m, d) => (firstTimestamp + d > m ? firstTimestamp + d : m), firstTimestamp);
  const encoded = await encodeRecordBatch({ firstOffset: Long.fromValue(firstOffset.toString()), firstTimestamp: Long.fromValue(firstTimestamp.toString()), maxTimestamp: Long.fromValue(maxTimestamp.toString()), lastOffsetDelta: timestampDeltas.length - 1, records });
  return encoded.buffer;
}

test('decoded records carry the exact offset and timestamp (Number fast path and Long path alike), key, value and headers', async () => {
  const TWO_53 = 2n ** 53n;
  const firstOffsets = [0n, 1_234_567n, 2n ** 40n + 17n, TWO_53 - 3n, 2n ** 62n];
  const firstTimestamps = [1_763_600_000_000n, 0n, -1n, TWO_53 - 2n, -TWO_53 + 2n, 2n ** 60n];
  // Deltas a varlong holds in up to 7 bytes (|d| < 2^48) and beyond, across 2^53 from either side.
  const deltas = [0n, 1n, -1n, 63n, -64n, 1_000n, -86_400_000n, 2n ** 48n - 1n, -(2n ** 48n), 2n ** 48n, -(2n ** 48n) - 1n, 2n ** 50n, -(2n ** 55n), 2n ** 62n];
  let checked = 0;
  for (const firstOffset of firstOffsets) {
    for (const firstTimestamp of firstTimestamps) {
      const usable = deltas.filter((d) => firstTimestamp + d < 2n ** 63n && firstTimestamp + d >= -(2n ** 63n));
      const batch = await decodeRecordBatch(new Decoder(await recordBatchOf(firstOffset, firstTimestamp, usable)));
      assert.equal(batch.records.length, usable.length);
      batch.records.forEach((r, i) => {
        const where = `first offset ${firstOffset}, first timestamp ${firstTimestamp}, delta ${usable[i]}`;
        assert.equal(r.offset, (firstOffset + BigInt(i)).toString(), where);
        assert.equal(r.timestamp, (firstTimestamp + (usable[i] as bigint)).toString(), where);
        assert.equal(r.key?.toString() ?? null, i % 3 === 0 ? null : `k${i}`);
        assert.equal(r.value?.toString(), `v${i}`);
        assert.deepEqual(Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()])), i % 4 === 1 ? { h: `x${i}` } : {});
        checked++;
      });
    }
  }
  assert.ok(checked > 300);
});

test('a batch with log-append time gives every record the max timestamp of the batch', async () => {
  const buffer = await recordBatchOf(500n, 1_763_600_000_000n, [0n, 5n, -3n, 2n ** 50n]);
  // Attributes sit after first offset (8), length (4), leader epoch (4), magic (1) and CRC (4); bit 3 is the timestamp type.
  buffer.writeInt16BE(buffer.readInt16BE(21) | 0x8, 21);
  const batch = await decodeRecordBatch(new Decoder(buffer));
  assert.deepEqual(batch.records.map((r) => r.timestamp), Array(4).fill((1_763_600_000_000n + 2n ** 50n).toString()));
  assert.deepEqual(batch.records.map((r) => r.offset), ['500', '501', '502', '503']);
});

test('a fetched batch keeps exactly the messages at or after the fetched offset, on both sides of 2^53', () => {
  for (const fetched of [0n, 1_000n, 2n ** 53n - 2n, 2n ** 53n + 1n, 2n ** 62n]) {
    const offsets = [-3n, -1n, 0n, 1n, 2n, 5n].map((d) => fetched + d).filter((o) => o >= 0n);
    const messages = offsets.map((o) => ({ offset: o.toString() }));
    const batch = new KafkaBatch('t', fetched.toString(), { partition: 0, highWatermark: (fetched + 10n).toString(), abortedTransactions: [], messages });
    assert.deepEqual(batch.messages.map((m) => m.offset), offsets.filter((o) => o >= fetched).map(String), `fetched ${fetched}`);
  }
});
