/**
 * Our own InfluxDB Line Protocol encoder for QuestDB (ILP over HTTP, protocol version 2), for the hot
 * path of the sink. It writes the same bytes as @questdb/nodejs-client 4.x with `protocol_version=2`
 * for the same calls (test/unit/sinks/questdb/ilp.test.ts checks that, byte for byte, for every table
 * and the escaping edge cases), but builds each row as one string written into a reused buffer with
 * one call, where the client writes every name, separator and value piece by piece (a profile of the
 * old sink: two thirds of its CPU).
 *
 * Row layout: `table[,symbol=value…][ column=value[,column=value…]] <micros>t\n`. Absent values
 * (undefined or null) leave their column out, which QuestDB stores as NULL.
 */

export type ColumnKind = 'symbol' | 'long' | 'double' | 'boolean' | 'timestamp' | 'varchar';

/** One column of a table: its QuestDB name, kind, and how to read its value from a record. */
export interface Column<T> {
  name: string;
  kind: ColumnKind;
  value(record: T): unknown;
  /** The CREATE TABLE type when it is not the kind's plain type (e.g. `SYMBOL CAPACITY 4096 CACHE`). */
  type?: string;
}

type Get<T, V> = (record: T) => V | null | undefined;
const column = <T>(kind: ColumnKind) => <V>(name: string, value: Get<T, V>, type?: string): Column<T> => (type === undefined ? { name, kind, value } : { name, kind, value, type });

export const symbol = <T>(name: string, value: Get<T, string>, type?: string): Column<T> => column<T>('symbol')(name, value, type);
export const long = <T>(name: string, value: Get<T, number>, type?: string): Column<T> => column<T>('long')(name, value, type);
export const double = <T>(name: string, value: Get<T, number>, type?: string): Column<T> => column<T>('double')(name, value, type);
export const boolean = <T>(name: string, value: Get<T, boolean>, type?: string): Column<T> => column<T>('boolean')(name, value, type);
/** Epoch microseconds. */
export const timestamp = <T>(name: string, value: Get<T, number>, type?: string): Column<T> => column<T>('timestamp')(name, value, type);
export const varchar = <T>(name: string, value: Get<T, string>, type?: string): Column<T> => column<T>('varchar')(name, value, type);

const UNQUOTED_SPECIAL = /[ ,=\n\r\\]/;
const UNQUOTED_SPECIAL_G = /[ ,=\n\r\\]/g;
const QUOTED_SPECIAL = /["\n\r\\]/;
const QUOTED_SPECIAL_G = /["\n\r\\]/g;
const backslashed = (ch: string) => (ch === '\\' ? '\\\\' : `\\${ch}`);

/** Names and symbol values: space, comma, equals sign, CR, LF and backslash get a backslash. */
export function escapeUnquoted(s: string): string {
  return UNQUOTED_SPECIAL.test(s) ? s.replace(UNQUOTED_SPECIAL_G, backslashed) : s;
}

/** Inside a quoted string value: double quote, CR, LF and backslash get a backslash. */
export function escapeQuoted(s: string): string {
  return QUOTED_SPECIAL.test(s) ? s.replace(QUOTED_SPECIAL_G, backslashed) : s;
}

/** Characters QuestDB (and the client) refuse in table and column names. */
const BAD_NAME = /[?,'"\\/:)(+*%~\u007f\ufeff]/;
const hasControl = (s: string) => [...s].some((ch) => ch.charCodeAt(0) < 0x20);

function checkName(kind: 'table' | 'column', name: string): void {
  const bad = name.length === 0 || name.length > 127 || BAD_NAME.test(name) || hasControl(name) ||
    (kind === 'column' ? /[.-]/.test(name) : /^\.|\.$|\.\./.test(name));
  if (bad) throw new Error(`invalid QuestDB ${kind} name ${JSON.stringify(name)}`);
}

/** Integer text exactly as the client writes it: BigInt for timestamps, Number#toString for longs. */
function integerText(v: unknown, what: string, asTimestamp: boolean): string {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${what} must be an integer, received ${String(v)}`);
  return asTimestamp && (v >= 1e21 || v <= -1e21) ? BigInt(v).toString() : String(v);
}

/** Buffer#utf8Write: Buffer#write without the argument juggling, the same bytes (Node's own fast path). */
interface FastWrite {
  utf8Write(s: string, offset: number): number;
}

const DOUBLE_TAG = 16; // protocol v2: `=` then entity type 16 then the IEEE 754 double, little endian

/**
 * A growing ILP payload: rows appended one after another, with where each row ends so a row QuestDB
 * rejects can be cut out and the rest sent again.
 */
export class IlpBuffer {
  private buf: Buffer;
  length = 0;
  /** Byte offset after each row. */
  readonly rowEnds: number[] = [];

  constructor(initialBytes = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get rows(): number {
    return this.rowEnds.length;
  }

  /** The bytes written so far (a view: valid until the next write or reset). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** Bytes of rows [from, to). */
  slice(from: number, to: number): Buffer {
    const start = from === 0 ? 0 : (this.rowEnds[from - 1] as number);
    const end = to === 0 ? 0 : (this.rowEnds[to - 1] as number);
    return this.buf.subarray(start, end);
  }

  reset(): void {
    this.length = 0;
    this.rowEnds.length = 0;
  }

  /** Appends a string as UTF-8 (up to three bytes per UTF-16 unit). */
  writeString(s: string): void {
    this.ensure(s.length * 3);
    this.length += (this.buf as unknown as FastWrite).utf8Write(s, this.length);
  }

  writeDouble(v: number): void {
    this.ensure(10);
    this.buf[this.length++] = 0x3d; // '='
    this.buf[this.length++] = DOUBLE_TAG;
    this.length = this.buf.writeDoubleLE(v, this.length);
  }

  endRow(): void {
    this.rowEnds.push(this.length);
  }

  /** Drops a row that was only partly written (an encoding error in the middle). */
  truncateTo(length: number): void {
    this.length = length;
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + extra));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}

interface Compiled<T> {
  prefix: string; // ",name=" or " name=" decided at run time: stored without the separator
  kind: ColumnKind;
  value(record: T): unknown;
  name: string;
}

/**
 * Encodes records of one table. Symbols are written first (ILP requires it), each group in the order
 * the columns are declared; `ts` is the designated timestamp in microseconds.
 */
export class IlpTableEncoder<T> {
  private readonly head: string;
  private readonly symbols: Compiled<T>[];
  private readonly fields: Compiled<T>[];

  constructor(table: string, columns: readonly Column<T>[], private readonly ts: (record: T) => number) {
    checkName('table', table);
    const names = new Set<string>();
    const compile = (c: Column<T>): Compiled<T> => {
      checkName('column', c.name);
      if (names.has(c.name)) throw new Error(`column ${c.name} declared twice in ${table}`);
      names.add(c.name);
      return { prefix: `${escapeUnquoted(c.name)}=`, kind: c.kind, value: c.value, name: c.name };
    };
    this.head = escapeUnquoted(table);
    this.symbols = columns.filter((c) => c.kind === 'symbol').map(compile);
    this.fields = columns.filter((c) => c.kind !== 'symbol').map(compile);
  }

  /** Appends one row; on an encoding error nothing of the row stays in `out` and the error is thrown. */
  encode(record: T, out: IlpBuffer): void {
    const start = out.length;
    try {
      this.write(record, out);
    } catch (err) {
      out.truncateTo(start);
      throw err;
    }
    out.endRow();
  }

  private write(record: T, out: IlpBuffer): void {
    let line = this.head;
    let any = false;
    for (const c of this.symbols) {
      const v = c.value(record);
      if (v === undefined || v === null) continue;
      line += `,${c.prefix}${escapeUnquoted(String(v))}`;
      any = true;
    }
    let sep = ' ';
    for (const c of this.fields) {
      const v = c.value(record);
      if (v === undefined || v === null) continue;
      switch (c.kind) {
        case 'long':
          line += `${sep}${c.prefix}${integerText(v, c.name, false)}i`;
          break;
        case 'timestamp':
          line += `${sep}${c.prefix}${integerText(v, c.name, true)}t`;
          break;
        case 'boolean':
          if (typeof v !== 'boolean') throw new Error(`${c.name} must be a boolean, received ${typeof v}`);
          line += `${sep}${c.prefix}${v ? 't' : 'f'}`;
          break;
        case 'varchar':
          if (typeof v !== 'string') throw new Error(`${c.name} must be a string, received ${typeof v}`);
          line += `${sep}${c.prefix}"${escapeQuoted(v)}"`;
          break;
        case 'double':
          if (typeof v !== 'number') throw new Error(`${c.name} must be a number, received ${typeof v}`);
          out.writeString(`${line}${sep}${c.prefix}`);
          out.writeDouble(v);
          line = '';
          break;
        case 'symbol':
          break; // written above
      }
      sep = ',';
      any = true;
    }
    if (!any) throw new Error('a row needs at least one symbol or column');
    out.writeString(`${line} ${integerText(this.ts(record), 'designated timestamp', true)}t\n`);
  }
}
