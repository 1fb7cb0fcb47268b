import assert from 'node:assert/strict';
import { test } from 'node:test';
import avro from 'avsc';
import { decodeWith, encodeWire, readerOf, readSchemaId } from '../../../lib/serde.js';
import { isAppError } from '../../../lib/errors.js';
import { TickSchema } from '../../../schemas/generated/schemas.js';
import type { Tick } from '../../../schemas/generated/types.js';

const tick: Tick = {
  symbol: '005930', exchangeTime: 1_763_780_400_000_000, ingestTime: 1_763_780_400_001_000, price: 61_000, quantity: 12,
  side: 'BUY', cumulativeVolume: 1000, cumulativeValue: 61_000_000, sequence: 7, source: 'SIMULATOR', sessionCode: '20', halted: false, venue: 'KRX', marketSession: 'REGULAR',
};

test('encodes the Confluent wire format: magic byte 0, big-endian schema id, Avro body', () => {
  const type = avro.Type.forSchema(TickSchema);
  const buf = encodeWire(258, type, tick);
  assert.equal(buf[0], 0);
  assert.equal(buf.readInt32BE(1), 258);
  assert.equal(readSchemaId(buf), 258);
  assert.deepEqual({ ...(type.fromBuffer(buf.subarray(5)) as Tick) }, tick);
});

test('each encoded value owns its bytes, and values larger than the encoder scratch buffer encode whole', () => {
  const type = avro.Type.forSchema(TickSchema);
  const first = encodeWire(7, type, tick);
  const firstBytes = Buffer.from(first);
  const big = { ...tick, sessionCode: 'x'.repeat(300_000) };
  const second = encodeWire(8, type, big);
  encodeWire(9, type, { ...tick, symbol: '000660' });
  assert.deepEqual(first, firstBytes, 'a later encode must not overwrite an earlier value');
  assert.equal(readSchemaId(second), 8);
  assert.deepEqual({ ...(type.fromBuffer(second.subarray(5)) as Tick) }, big);
  assert.equal(second.length, 5 + type.toBuffer(big).length);
});

test('a value that does not match the schema fails with ENCODE_FAILED naming the field', () => {
  const type = avro.Type.forSchema(TickSchema);
  assert.throws(() => encodeWire(1, type, { ...tick, price: 1.5 }), (err: unknown) => isAppError(err, 'ENCODE_FAILED') && /price/.test(err.message));
});

test('foreign or truncated bytes fail with DECODE_FAILED', () => {
  assert.throws(() => readSchemaId(Buffer.from('{"json":true}')), (err: unknown) => isAppError(err, 'DECODE_FAILED') && /magic byte 123/.test(err.message));
  assert.throws(() => readSchemaId(Buffer.from([0, 0])), (err: unknown) => isAppError(err, 'DECODE_FAILED'));
  assert.throws(() => readSchemaId(null), (err: unknown) => isAppError(err, 'DECODE_FAILED'));
});

test('a body decodes in place after the header, whole or through a reader of some fields; truncated or trailing bytes fail with DECODE_FAILED', () => {
  const writer = avro.Type.forSchema(TickSchema);
  const resolvers = new WeakMap<avro.Type, Map<number, unknown>>();
  const wire = encodeWire(11, writer, tick);
  assert.deepEqual({ ...decodeWith<Tick>(wire, writer, undefined, resolvers, 11) }, tick);
  const reader = readerOf(TickSchema, ['symbol', 'price', 'marketSession']);
  // Twice: the second read goes through the cached resolver.
  for (let i = 0; i < 2; i++) assert.deepEqual({ ...decodeWith<object>(wire, writer, reader, resolvers, 11) }, { symbol: tick.symbol, price: tick.price, marketSession: tick.marketSession });
  for (const r of [undefined, reader]) {
    assert.throws(() => decodeWith(wire.subarray(0, wire.length - 1), writer, r, resolvers, 11), (err: unknown) => isAppError(err, 'DECODE_FAILED') && /truncated/.test(err.message));
    assert.throws(() => decodeWith(Buffer.concat([wire, Buffer.from([0])]), writer, r, resolvers, 11), (err: unknown) => isAppError(err, 'DECODE_FAILED') && /trailing/.test(err.message));
  }
  assert.throws(() => readerOf(TickSchema, ['symbol', 'nope']), /no field\(s\) nope/);
});
