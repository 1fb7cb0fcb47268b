import { AppError } from '../../lib/errors.js';
import { decryptPayload, type KisCipher } from './crypto.js';
import { trSpec, type TrSpec } from './trs.js';

/** Why a frame or a record could not be read; a bounded set, used as a metric label. */
export type ParseReason = 'header' | 'unknown-tr' | 'count' | 'width' | 'decrypt' | 'field' | 'json' | 'encoding';

export function parseError(reason: ParseReason, message: string, cause?: unknown): AppError {
  return new AppError('DECODE_FAILED', message, { context: { reason }, ...(cause === undefined ? {} : { cause }) });
}

export function reasonOf(err: AppError): ParseReason | 'invalid' {
  const r = err.context['reason'];
  return typeof r === 'string' ? (r as ParseReason) : 'invalid';
}

/** A data frame cut into records: record i is `fields[i * width .. i * width + spec.fields)`. */
export interface DataFrame {
  encrypted: boolean;
  trId: string;
  spec: TrSpec;
  count: number;
  /** Fields per record as sent; at least `spec.fields` (a grown layout has extra trailing fields). */
  width: number;
  fields: string[];
}

/** Server frames are either JSON (acks, errors, PINGPONG) or `<enc>|<tr_id>|<count>|<records>`. */
export function isJsonFrame(text: string): boolean {
  return text.charCodeAt(0) === 123; // '{'
}

/** The tr_id of a data frame without parsing it (for the raw topic's key), or '' if there is none. */
export function peekTrId(text: string): string {
  const a = text.indexOf('|');
  if (a < 0) return '';
  const b = text.indexOf('|', a + 1);
  return b < 0 ? '' : text.slice(a + 1, b);
}

/**
 * Parses `<enc>|<tr_id>|<count>|<records>`. Records are joined with `^` like their fields, so the
 * payload is one `^`-separated list. KIS has grown TR layouts before (H0STCNI0: 23 → 26 fields), so
 * the announced `count` is trusted and `len / count` is the record width, provided it is a whole
 * number no smaller than the known field count; known fields are then read by position.
 */
export function parseDataFrame(text: string, cipherFor: (trId: string) => KisCipher | undefined): DataFrame {
  const p1 = text.indexOf('|');
  const p2 = p1 < 0 ? -1 : text.indexOf('|', p1 + 1);
  const p3 = p2 < 0 ? -1 : text.indexOf('|', p2 + 1);
  if (p1 !== 1 || p2 < 0 || p3 < 0) throw parseError('header', 'not a data frame: expected <enc>|<tr_id>|<count>|<records>');
  const enc = text[0];
  if (enc !== '0' && enc !== '1') throw parseError('header', `encryption flag ${JSON.stringify(enc)} is neither 0 nor 1`);
  const trId = text.slice(p1 + 1, p2);
  const spec = trSpec(trId);
  if (!spec) throw parseError('unknown-tr', `unknown tr_id ${JSON.stringify(trId.slice(0, 20))}`);
  const countText = text.slice(p2 + 1, p3);
  const count = /^\d{1,6}$/.test(countText) ? Number(countText) : NaN;
  if (!(count >= 1)) throw parseError('count', `record count ${JSON.stringify(countText.slice(0, 20))} is not a positive number`);

  let payload = text.slice(p3 + 1);
  if (enc === '1') {
    const cipher = cipherFor(trId);
    if (!cipher) throw parseError('decrypt', `encrypted ${trId} frame before any ack carried its key`);
    try {
      payload = decryptPayload(payload, cipher);
    } catch (err) {
      throw parseError('decrypt', (err as Error).message, err);
    }
  }
  const fields = payload.split('^');
  if (fields.length % count !== 0) {
    throw parseError('width', `${fields.length} fields do not split into ${count} record(s) (${trId} has ${spec.fields} fields)`);
  }
  const width = fields.length / count;
  if (width < spec.fields) {
    throw parseError('width', `${count} record(s) of ${width} fields: ${trId} needs at least ${spec.fields}`);
  }
  return { encrypted: enc === '1', trId, spec, count, width, fields };
}
