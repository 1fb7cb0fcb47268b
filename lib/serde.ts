import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { AppError } from './errors.js';
import { defineConfig } from './config.js';
import { valueSubject } from './topics.js';

export const registryConfigSpec = defineConfig({
  registryUrl: { env: 'SCHEMA_REGISTRY_URL', type: 'url', default: 'http://127.0.0.1:8081/apis/ccompat/v7', doc: 'Confluent-compatible Schema Registry base URL (Apicurio: /apis/ccompat/v7)' },
});

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

/** A registered writer schema: its global registry id and the avsc type that encodes it. */
export interface WriterSchema<T> {
  readonly id: number;
  readonly subject: string;
  readonly type: avro.Type;
  /** Encodes in the Confluent wire format: magic byte 0, schema id (int32 BE), Avro binary. */
  encode(value: T): Buffer;
}

function registryError(err: unknown, action: string): AppError {
  const status = (err as { status?: number } | null)?.status;
  if (status === 409) {
    return new AppError('SCHEMA_INCOMPATIBLE', `${action}: the schema is not BACKWARD compatible with the registered versions`, { cause: err });
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return new AppError('DECODE_FAILED', `${action}: registry answered ${status}`, { cause: err });
  }
  return new AppError('SCHEMA_REGISTRY_UNAVAILABLE', `${action}: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
    retryable: true,
  });
}

/**
 * Avro serde over a Confluent-compatible registry. Registration and schema look-ups go through
 * @kafkajs/confluent-schema-registry; encoding and decoding are synchronous on the hot path once
 * a schema id has been seen (ids are immutable, so caching them forever is safe).
 */
export class AvroSerde {
  private readonly registry: SchemaRegistry;
  private readonly writerTypes = new Map<number, avro.Type>();
  /** Resolvers per reader type and writer id: building one walks both schemas, so do it once. */
  private readonly resolvers = new WeakMap<avro.Type, Map<number, unknown>>();

  constructor(registryUrl: string) {
    this.registry = new SchemaRegistry({ host: registryUrl, retry: { retries: 3 } });
  }

  /** Registers `schema` under `<topic>-value` (BACKWARD compatibility) and returns its writer. */
  async registerValueSchema<T>(topic: string, schema: avro.Schema): Promise<WriterSchema<T>> {
    const subject = valueSubject(topic);
    let id: number;
    try {
      ({ id } = await this.registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
        { subject, compatibility: 'BACKWARD' } as never,
      ));
    } catch (err) {
      throw registryError(err, `registering ${subject}`);
    }
    const type = avro.Type.forSchema(schema as avro.Schema);
    this.writerTypes.set(id, type);
    return {
      id,
      subject,
      type,
      encode: (value: T) => encodeWire(id, type, value),
    };
  }

  /** The writer type of `id`, fetched once from the registry. */
  async writerType(id: number): Promise<avro.Type> {
    const cached = this.writerTypes.get(id);
    if (cached) return cached;
    let type: avro.Type;
    try {
      type = (await this.registry.getSchema(id)) as unknown as avro.Type;
    } catch (err) {
      throw registryError(err, `fetching schema id ${id}`);
    }
    this.writerTypes.set(id, type);
    return type;
  }

  /**
   * Decodes a Confluent-framed value. With `readerType`, the writer's data is resolved into the
   * reader's schema (Avro schema evolution), so consumers keep working across compatible changes.
   * Synchronous once the writer id has been seen (the hot path); a promise only for the first
   * record of a new schema id, which needs one registry look-up.
   */
  decode<T>(buffer: Buffer | null, readerType?: avro.Type): T | Promise<T> {
    const id = readSchemaId(buffer);
    const writer = this.writerTypes.get(id);
    if (writer) return decodeWith<T>(buffer as Buffer, writer, readerType, this.resolvers, id);
    return this.writerType(id).then((w) => decodeWith<T>(buffer as Buffer, w, readerType, this.resolvers, id));
  }
}

/**
 * A reader type with only `fields` of a record schema (same name, so it resolves against any writer
 * of it): decoding through it skips the other fields' bytes instead of building their values.
 */
export function readerOf(schema: avro.Schema, fields: readonly string[]): avro.Type {
  const record = schema as avro.schema.RecordType;
  const missing = fields.filter((name) => !record.fields.some((f) => f.name === name));
  if (missing.length > 0) throw new Error(`${record.name} has no field(s) ${missing.join(', ')}`);
  return avro.Type.forSchema({ ...record, fields: record.fields.filter((f) => fields.includes(f.name)) });
}

export function readSchemaId(buffer: Buffer | null): number {
  if (!buffer || buffer.length < HEADER_BYTES) {
    throw new AppError('DECODE_FAILED', `value is ${buffer ? `${buffer.length} bytes` : 'null'}: too short for the Confluent wire format`);
  }
  if (buffer[0] !== MAGIC_BYTE) {
    throw new AppError('DECODE_FAILED', `unknown magic byte ${buffer[0]} (expected 0, Confluent wire format)`);
  }
  return buffer.readInt32BE(1);
}

/** Where values are encoded before being copied out at their exact size; grows for large values. */
let scratch = Buffer.allocUnsafe(64 * 1024);

export function encodeWire(id: number, type: avro.Type, value: unknown): Buffer {
  let end: number;
  try {
    // Straight after the header in a reused buffer: one copy-out per value, where toBuffer() would
    // allocate (zero-filled) and copy once, and the framing allocate and copy again.
    end = type.encode(value, scratch, HEADER_BYTES);
    if (end < 0) {
      scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
      end = type.encode(value, scratch, HEADER_BYTES);
    }
  } catch (err) {
    const paths: string[] = [];
    type.isValid(value, { errorHook: (path) => paths.push(path.join('.')) });
    throw new AppError('ENCODE_FAILED', `value does not match ${type.name ?? 'schema'}: invalid field(s) ${paths.join(', ') || '?'}`, { cause: err });
  }
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, 0, 0, end);
  out[0] = MAGIC_BYTE;
  out.writeInt32BE(id, 1);
  return out;
}

export function decodeWith<T>(
  buffer: Buffer,
  writer: avro.Type,
  reader: avro.Type | undefined,
  resolvers: WeakMap<avro.Type, Map<number, unknown>>,
  id: number,
): T {
  try {
    let decoded: { value: unknown; offset: number };
    if (!reader || reader === writer) {
      decoded = writer.decode(buffer, HEADER_BYTES);
    } else {
      let byWriter = resolvers.get(reader);
      if (!byWriter) {
        byWriter = new Map();
        resolvers.set(reader, byWriter);
      }
      let resolver = byWriter.get(id);
      if (!resolver) {
        resolver = reader.createResolver(writer);
        byWriter.set(id, resolver);
      }
      decoded = reader.decode(buffer, HEADER_BYTES, resolver as never);
    }
    // Read in place past the header (fromBuffer would need a subarray, a Buffer object per record);
    // the same checks as fromBuffer: neither truncated nor followed by trailing bytes.
    if (decoded.offset < 0) throw new Error('truncated buffer');
    if (decoded.offset < buffer.length) throw new Error('trailing data');
    return decoded.value as T;
  } catch (err) {
    throw new AppError('DECODE_FAILED', `Avro body does not decode with schema id ${id}: ${(err as Error).message}`, { cause: err });
  }
}
