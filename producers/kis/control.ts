import type { KisCipher } from './crypto.js';
import { parseError } from './frame.js';

/** The message codes of the reference's table (§3). Anything else is handled as a server fault. */
export const MSG = {
  subscribed: 'OPSP0000',
  unsubscribed: 'OPSP0001',
  alreadySubscribed: 'OPSP0002',
  notSubscribed: 'OPSP0003',
  internalError: 'OPSP0007',
  maxSubscribeOver: 'OPSP0008',
  invalidApproval: 'OPSP0011',
  appKeyInUse: 'OPSP8996',
} as const;

/** Metric labels stay bounded: a code outside the table is counted as 'other'. */
export const KNOWN_MSG_CODES: ReadonlySet<string> = new Set(Object.values(MSG));

export type ControlMessage =
  | { kind: 'pingpong' }
  | {
      kind: 'ack';
      trId: string;
      /** Absent on some error answers; the session then matches the oldest request of that tr_id. */
      trKey: string | undefined;
      rtCd: string;
      msgCd: string;
      msg1: string;
      cipher: KisCipher | undefined;
    };

interface RawControl {
  header?: { tr_id?: unknown; tr_key?: unknown };
  body?: { rt_cd?: unknown; msg_cd?: unknown; msg1?: unknown; output?: { iv?: unknown; key?: unknown } };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads a JSON server frame: the PINGPONG heartbeat or an answer to a (un)subscribe request. */
export function parseControl(text: string): ControlMessage {
  let json: RawControl;
  try {
    json = JSON.parse(text) as RawControl;
  } catch (err) {
    throw parseError('json', `server JSON frame does not parse: ${(err as Error).message}`, err);
  }
  const trId = str(json?.header?.tr_id);
  if (trId === 'PINGPONG') return { kind: 'pingpong' };
  const msgCd = str(json?.body?.msg_cd);
  if (trId === undefined || msgCd === undefined) throw parseError('json', 'server JSON frame has neither PINGPONG nor header.tr_id with body.msg_cd');
  const iv = str(json.body?.output?.iv);
  const key = str(json.body?.output?.key);
  return {
    kind: 'ack',
    trId,
    trKey: str(json.header?.tr_key) || undefined,
    rtCd: str(json.body?.rt_cd) ?? '',
    msgCd,
    msg1: str(json.body?.msg1) ?? '',
    cipher: iv !== undefined && key !== undefined ? { iv, key } : undefined,
  };
}

/** The subscribe (tr_type 1) or unsubscribe (tr_type 2) request, exactly as §2 shows it. */
export function requestFrame(approvalKey: string, custType: string, op: 'subscribe' | 'unsubscribe', trId: string, trKey: string): string {
  return JSON.stringify({
    header: { approval_key: approvalKey, custtype: custType, tr_type: op === 'subscribe' ? '1' : '2', 'content-type': 'utf-8' },
    body: { input: { tr_id: trId, tr_key: trKey } },
  });
}
