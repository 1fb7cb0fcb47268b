import type { KisCipher } from './crypto.js';
import { parseError } from './frame.js';

/** The message codes of the reference's table (§3). */
export const MSG = {
  subscribed: 'OPSP0000',
  unsubscribed: 'OPSP0001',
  alreadySubscribed: 'OPSP0002',
  notSubscribed: 'OPSP0003',
  internalError: 'OPSP0007',
  maxSubscribeOver: 'OPSP0008',
  subscribeFault: 'OPSP0009',
  unsubscribeFault: 'OPSP0010',
  invalidApproval: 'OPSP0011',
  invalidTrId: 'OPSP8991',
  invalidTrKey: 'OPSP8992',
  appKeyInUse: 'OPSP8996',
  serverError: 'OPSP9999',
} as const;

/** Metric labels stay bounded: a code outside the table is counted as 'other'. */
export const KNOWN_MSG_CODES: ReadonlySet<string> = new Set(Object.values(MSG));

/**
 * What a session does with an answer:
 * - `done`: the request did what it asked (or the server already was in that state);
 * - `capacity`: the session holds all the server allows; re-plan;
 * - `approval`: the approval key was refused (a held slot right after a drop, else renew once);
 * - `slot-held`: the app key's one session slot is taken; wait it out, then reconnect;
 * - `give-up`: this registration cannot be had (bad tr_id or tr_key, refused): report, do not retry;
 * - `retry`: a server fault; retry this registration later with backoff;
 * - `unknown`: a code the reference does not list; reported once, retried a few times, then given up.
 */
export type AnswerPolicy = 'done' | 'capacity' | 'approval' | 'slot-held' | 'give-up' | 'retry' | 'unknown';

export function answerPolicy(msgCd: string, op: 'subscribe' | 'unsubscribe', rtCd: string, msg1: string): AnswerPolicy {
  switch (msgCd) {
    case MSG.subscribed:
    case MSG.alreadySubscribed:
      return op === 'subscribe' ? 'done' : 'retry';
    case MSG.unsubscribed:
    case MSG.notSubscribed:
      return op === 'unsubscribe' ? 'done' : 'retry';
    case MSG.maxSubscribeOver: return op === 'subscribe' ? 'capacity' : 'retry';
    case MSG.invalidApproval: return 'approval';
    case MSG.appKeyInUse: return 'slot-held';
    case MSG.subscribeFault:
    case MSG.unsubscribeFault:
    case MSG.invalidTrId:
    case MSG.invalidTrKey:
      return 'give-up';
    case MSG.internalError:
    case MSG.serverError:
      return 'retry';
    default:
      // Clients check only the UNSUB prefix of OPSP0001 (reference §3).
      if (op === 'unsubscribe' && rtCd === '0' && msg1.startsWith('UNSUB')) return 'done';
      return 'unknown';
  }
}

export type ControlMessage =
  | { kind: 'pingpong' }
  | {
      kind: 'ack';
      /** undefined when the server wrote `"tr_id":"(null)"`: the answer names no request. */
      trId: string | undefined;
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
  const named = trId !== '' && trId !== '(null)';
  return {
    kind: 'ack',
    trId: named ? trId : undefined,
    trKey: named ? str(json.header?.tr_key) || undefined : undefined,
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
