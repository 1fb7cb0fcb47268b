import { AppError } from '../../lib/errors.js';

/**
 * Postgres arrays as binary parameters (the `array_recv` format), one Buffer per column. pg sends a
 * Buffer parameter in binary, and Postgres infers the array type from the cast in the statement
 * (`$1::bigint[]`), so each element arrives as 4 or 8 bytes instead of text it must parse (array_in,
 * then an input function per element) after the sink built a string for it. On 480,000 bars the
 * upsert statement took ~15 % less time and building its parameters ~45 % less; in the five-year
 * backfill the Postgres sink's CPU fell from 41–44 to 25–26 s.
 *
 * Layout: ndim, has-nulls flag, element type OID, then per dimension its length and lower bound
 * (1), then per element its byte length (-1 for NULL) and its bytes, all integers big-endian.
 */

const OID = { bool: 16, int8: 20, text: 25, float8: 701, date: 1082, timestamptz: 1184 } as const;
const HEADER = 20;
const TWO_32 = 2 ** 32;
/** 2000-01-01, Postgres' epoch for dates and timestamps, in days and microseconds since 1970. */
const PG_EPOCH_DAYS = 10_957;
const PG_EPOCH_MICROS = PG_EPOCH_DAYS * 86_400_000_000;

function refuse(message: string): never {
  throw new AppError('SINK_ROW_REJECTED', message);
}

/** An array of fixed-width elements; `write` puts one non-null value at `offset`. */
function fixedWidth<T>(values: ReadonlyArray<T | null>, oid: number, width: number, write: (buf: Buffer, offset: number, v: T) => void): Buffer {
  if (values.length === 0) return emptyArray(oid);
  let nulls = 0;
  for (const v of values) if (v === null || v === undefined) nulls++;
  const buf = Buffer.allocUnsafe(HEADER + values.length * 4 + (values.length - nulls) * width);
  let o = header(buf, oid, values.length, nulls > 0);
  for (const v of values) {
    if (v === null || v === undefined) {
      o = buf.writeInt32BE(-1, o);
    } else {
      o = buf.writeInt32BE(width, o);
      write(buf, o, v);
      o += width;
    }
  }
  return buf;
}

function header(buf: Buffer, oid: number, length: number, hasNulls: boolean): number {
  buf.writeInt32BE(1, 0);
  buf.writeInt32BE(hasNulls ? 1 : 0, 4);
  buf.writeInt32BE(oid, 8);
  buf.writeInt32BE(length, 12);
  buf.writeInt32BE(1, 16);
  return HEADER;
}

/** No dimensions: what Postgres itself sends for '{}'. */
function emptyArray(oid: number): Buffer {
  const buf = Buffer.alloc(12);
  buf.writeInt32BE(oid, 8);
  return buf;
}

/** A safe integer as a big-endian int64 (two's complement across both halves). */
function writeInt64(buf: Buffer, offset: number, v: number): void {
  const high = Math.floor(v / TWO_32);
  buf.writeInt32BE(high, offset);
  buf.writeUInt32BE(v - high * TWO_32, offset + 4);
}

/** `bigint[]`: integers only; a fraction or a value beyond 2^53 is refused, not rounded. */
export function int8Array(values: ReadonlyArray<number | null>): Buffer {
  return fixedWidth(values, OID.int8, 8, (buf, o, v) => {
    if (!Number.isSafeInteger(v)) refuse(`${v} is not an integer a bigint column takes exactly`);
    writeInt64(buf, o, v);
  });
}

/** `float8[]`: finite numbers (NaN and infinities would poison every average over the column). */
export function float8Array(values: ReadonlyArray<number | null>): Buffer {
  return fixedWidth(values, OID.float8, 8, (buf, o, v) => {
    if (!Number.isFinite(v)) refuse(`${v} cannot go into a float8 column here`);
    buf.writeDoubleBE(v, o);
  });
}

/** `date[]` from days since 1970-01-01. */
export function dateArray(days: ReadonlyArray<number | null>): Buffer {
  return fixedWidth(days, OID.date, 4, (buf, o, d) => {
    if (!Number.isSafeInteger(d) || Math.abs(d) > 2_000_000) refuse(`${d} is not a day a date column takes`);
    buf.writeInt32BE(d - PG_EPOCH_DAYS, o);
  });
}

/** `timestamptz[]` from microseconds since 1970 (Postgres keeps microseconds: nothing is rounded). */
export function timestamptzArray(micros: ReadonlyArray<number | null>): Buffer {
  return fixedWidth(micros, OID.timestamptz, 8, (buf, o, t) => {
    if (!Number.isSafeInteger(t)) refuse(`${t} is not a timestamp in microseconds`);
    writeInt64(buf, o, t - PG_EPOCH_MICROS);
  });
}

/** `boolean[]`. */
export function boolArray(values: ReadonlyArray<boolean | null>): Buffer {
  return fixedWidth(values, OID.bool, 1, (buf, o, v) => {
    buf[o] = v ? 1 : 0;
  });
}

/** `text[]` as UTF-8. A NUL character is left in: Postgres refuses it with its own reason. */
export function textArray(values: ReadonlyArray<string | null>): Buffer {
  if (values.length === 0) return emptyArray(OID.text);
  let bytes = HEADER;
  let nulls = 0;
  for (const v of values) {
    if (v === null || v === undefined) nulls++;
    else bytes += Buffer.byteLength(v);
  }
  bytes += values.length * 4;
  const buf = Buffer.allocUnsafe(bytes);
  let o = header(buf, OID.text, values.length, nulls > 0);
  for (const v of values) {
    if (v === null || v === undefined) {
      o = buf.writeInt32BE(-1, o);
    } else {
      const n = buf.write(v, o + 4);
      buf.writeInt32BE(n, o);
      o += 4 + n;
    }
  }
  return buf;
}
