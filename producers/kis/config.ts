import { defineConfig, type ConfigOf } from '../../lib/config.js';
import { AppError } from '../../lib/errors.js';
import type { Credentials } from './approval.js';
import { SYMBOL_PATTERN } from './symbols.js';
import { SUPPORTED_TR_IDS, trSpec } from './trs.js';

/** Endpoints per account type (reference §1). Both WebSockets are plain ws://. */
export const KIS_ENDPOINTS = {
  real: { rest: 'https://openapi.koreainvestment.com:9443', ws: 'ws://ops.koreainvestment.com:21000' },
  virtual: { rest: 'https://openapivts.koreainvestment.com:29443', ws: 'ws://ops.koreainvestment.com:31000' },
} as const;

const TR_PATTERN = new RegExp(`^(${SUPPORTED_TR_IDS.join('|')})$`);

/**
 * KIS_TRS when unset: all trading of a symbol (KRX and NXT) in two registrations where the account
 * gets the integrated feed; virtual accounts get KRX only. KRX and NXT apart (venue on every record)
 * would take four registrations per symbol: 10 symbols per app key instead of 20.
 */
export const DEFAULT_TRS = { real: ['H0UNCNT0', 'H0UNASP0'], virtual: ['H0STCNT0', 'H0STASP0'] } as const;

export const kisConfigSpec = defineConfig({
  appKeys: { env: 'KIS_APP_KEYS', type: 'list', secret: true, minItems: 1, doc: 'KIS app keys, comma separated: one WebSocket session per key' },
  appSecrets: { env: 'KIS_APP_SECRETS', type: 'list', secret: true, minItems: 1, doc: 'the app secrets of KIS_APP_KEYS, in the same order' },
  account: { env: 'KIS_ACCOUNT', type: 'enum', values: ['real', 'virtual'] as const, default: 'real', doc: 'account type of the keys: picks the default REST and WebSocket endpoints' },
  restUrl: { env: 'KIS_REST_URL', type: 'optional-string', doc: 'REST base URL override (default from KIS_ACCOUNT); tests point it at the fake' },
  wsUrl: { env: 'KIS_WS_URL', type: 'optional-string', doc: 'WebSocket URL override (default from KIS_ACCOUNT)' },
  symbols: { env: 'KIS_SYMBOLS', type: 'list', default: [], itemPattern: SYMBOL_PATTERN, doc: 'stock codes subscribed for the life of the process, comma separated' },
  symbolsFile: { env: 'KIS_SYMBOLS_FILE', type: 'optional-string', doc: 'file of further stock codes (comma/space/newline separated, # comments), re-read when it changes: add or remove symbols without a restart' },
  symbolsPollMs: { env: 'KIS_SYMBOLS_POLL_MS', type: 'int', default: 1_000, min: 50, max: 60_000, doc: 'how often KIS_SYMBOLS_FILE is checked for changes' },
  trs: { env: 'KIS_TRS', type: 'list', default: [], itemPattern: TR_PATTERN, doc: 'TR ids per symbol, each one registration: H0UNCNT0/H0UNASP0 all trading of a symbol (KRX+NXT, venue INTEGRATED), H0STCNT0/H0STASP0 KRX only, H0NXCNT0/H0NXASP0 NXT only (H0UN*/H0NX* real accounts only); empty: H0UNCNT0,H0UNASP0 on real accounts, H0STCNT0,H0STASP0 on virtual ones' },
  maxRegistrations: { env: 'KIS_MAX_REGISTRATIONS', type: 'int', default: 41, min: 1, max: 1_000, doc: 'registrations per session, counted across TR ids (KIS refuses the 42nd)' },
  custType: { env: 'KIS_CUSTTYPE', type: 'enum', values: ['P', 'B'] as const, default: 'P', doc: 'customer type of the requests: P individual, B corporate' },
  reconnectBaseMs: { env: 'KIS_RECONNECT_BASE_MS', type: 'int', default: 1_000, min: 1, doc: 'after a clean close (the server released the session) the first reconnect waits 50-100% of this; doubles per failed attempt' },
  slotHoldMs: { env: 'KIS_SLOT_HOLD_MS', type: 'int', default: 20_000, min: 1, doc: 'after an abnormal close or a "slot still held" answer (OPSP0011 on the old key, OPSP8996) the first reconnect waits 100-150% of this; doubles per failed attempt (KIS keeps a dropped session about 20 s; fast retries got keys locked out)' },
  reconnectMaxMs: { env: 'KIS_RECONNECT_MAX_MS', type: 'int', default: 300_000, min: 1, doc: 'longest reconnect step (held-slot waits add up to half again as jitter)' },
  stableMs: { env: 'KIS_STABLE_MS', type: 'int', default: 60_000, min: 0, doc: 'a connection that delivered market data for this long resets the reconnect backoff (must exceed KIS_ACK_TIMEOUT_MS)' },
  ackTimeoutMs: { env: 'KIS_ACK_TIMEOUT_MS', type: 'int', default: 10_000, min: 100, doc: 'a (un)subscribe request unanswered this long replaces the connection' },
  idleTimeoutMs: { env: 'KIS_IDLE_TIMEOUT_MS', type: 'int', default: 60_000, min: 100, doc: 'nothing received (not even PINGPONG) this long replaces the connection' },
  requestIntervalMs: { env: 'KIS_REQUEST_INTERVAL_MS', type: 'int', default: 100, min: 10, max: 5_000, doc: 'least time between two (un)subscribe requests of a session (the official samples wait 50-500 ms; 41 registrations take about 4 s at 100)' },
  budgetWindowMs: { env: 'KIS_BUDGET_WINDOW_MS', type: 'int', default: 600_000, min: 1_000, doc: 'window of the connect and subscribe budgets below' },
  connectsPerKey: { env: 'KIS_MAX_CONNECTS_PER_KEY', type: 'int', default: 8, min: 1, doc: 'WebSocket connects per app key in any KIS_BUDGET_WINDOW_MS, never exceeded (KIS blocks keys that connect and close in loops)' },
  connectsPerProcess: { env: 'KIS_MAX_CONNECTS_PER_PROCESS', type: 'int', default: 40, min: 1, doc: 'WebSocket connects of all keys together in any KIS_BUDGET_WINDOW_MS (KIS can block the IP)' },
  subscribesPerKey: { env: 'KIS_MAX_SUBSCRIBES_PER_KEY', type: 'int', default: 400, min: 1, doc: 'subscribe requests per app key in any KIS_BUDGET_WINDOW_MS, never exceeded' },
  subscribesPerProcess: { env: 'KIS_MAX_SUBSCRIBES_PER_PROCESS', type: 'int', default: 2_000, min: 1, doc: 'subscribe requests of all keys together in any KIS_BUDGET_WINDOW_MS' },
  pausedBacklogBytes: { env: 'KIS_PAUSED_BACKLOG_BYTES', type: 'int', default: 64 * 1024 * 1024, min: 0, doc: 'while Kafka is behind, data frames up to this many bytes are held and the socket is still read, so PINGPONG stays answered; beyond it reading stops' },
  lingerMs: { env: 'KIS_PRODUCE_LINGER_MS', type: 'int', default: 5, min: 0, max: 1_000, doc: 'how long a message waits for others before a produce request when none is in flight' },
  maxBatchMessages: { env: 'KIS_PRODUCE_MAX_BATCH_MESSAGES', type: 'int', default: 2_000, min: 1, max: 100_000, doc: 'upper bound of messages in one produce request' },
  maxBatchBytes: { env: 'KIS_PRODUCE_MAX_BATCH_BYTES', type: 'int', default: 900_000, min: 10_000, max: 100_000_000, doc: 'upper bound of one produce request (stay under the broker message.max.bytes)' },
  producerThreads: { env: 'KIS_PRODUCER_THREADS', type: 'int', default: 1, min: 0, max: 16, doc: 'Kafka producers in worker threads, each owning a share of the partitions and sending while the main thread reads and parses; 0 = one producer on the main thread (the least CPU per trade, but reading and sending take turns)' },
  maxPending: { env: 'KIS_MAX_PENDING_MESSAGES', type: 'int', default: 50_000, min: 100, doc: 'above this many unsent messages new frames go to the spool instead of straight to Kafka (the WebSocket reads go on)' },
  bufferMaxBytes: { env: 'KIS_BUFFER_MAX_BYTES', type: 'int', default: 64 * 1024 * 1024, min: 1024 * 1024, doc: 'frames handed to Kafka and not yet acknowledged are held in memory up to this many bytes; beyond, new frames go to the spool' },
  bufferMaxAgeMs: { env: 'KIS_BUFFER_MAX_AGE_MS', type: 'int', default: 2_000, min: 100, doc: 'a frame Kafka has not acknowledged for this long means Kafka is away: /health 503, the held frames are written to the spool and new ones go there (bounds what a SIGKILL loses)' },
  spoolDir: { env: 'KIS_SPOOL_DIR', type: 'string', default: '.spool/kis-producer', doc: 'directory of the spool (segment files), one per producer process; a non-empty spool is replayed at start-up' },
  spoolMaxBytes: { env: 'KIS_SPOOL_MAX_BYTES', type: 'int', default: 4 * 1024 * 1024 * 1024, min: 1024 * 1024, doc: 'spool size on disk at most; beyond it frames are dropped (counted, logged once per incident)' },
  spoolSegmentBytes: { env: 'KIS_SPOOL_SEGMENT_BYTES', type: 'int', default: 64 * 1024 * 1024, min: 64 * 1024, doc: 'size of one spool segment file; a segment is deleted once all its frames are acknowledged' },
  spoolFsyncMs: { env: 'KIS_SPOOL_FSYNC_MS', type: 'int', default: 1_000, min: 10, max: 60_000, doc: 'how often the spool is fsynced: a machine crash (not a process kill) can lose this much of what was spooled' },
});

export type KisConfig = ConfigOf<typeof kisConfigSpec>;

/** What the service runs with once the cross-field rules hold. */
export interface KisSettings {
  credentials: Credentials[];
  account: 'real' | 'virtual';
  restUrl: string;
  wsUrl: string;
  trs: string[];
}

function validUrl(value: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** The rules loadConfig cannot express alone; every broken one is listed in one CONFIG_INVALID. */
export function resolveKisSettings(c: KisConfig): KisSettings {
  const problems: string[] = [];
  if (c.appKeys.length !== c.appSecrets.length) {
    problems.push(`KIS_APP_KEYS has ${c.appKeys.length} key(s) but KIS_APP_SECRETS has ${c.appSecrets.length} secret(s): they pair up in order`);
  }
  if (new Set(c.appKeys).size !== c.appKeys.length) problems.push('KIS_APP_KEYS: a key appears twice (KIS allows one session per app key)');
  if (c.restUrl !== undefined && !validUrl(c.restUrl, ['http:', 'https:'])) problems.push(`KIS_REST_URL: ${JSON.stringify(c.restUrl)} is not an http(s) URL`);
  if (c.wsUrl !== undefined && !validUrl(c.wsUrl, ['ws:', 'wss:'])) problems.push(`KIS_WS_URL: ${JSON.stringify(c.wsUrl)} is not a ws(s) URL`);
  const trs = c.trs.length > 0 ? [...new Set(c.trs)] : [...DEFAULT_TRS[c.account]];
  // The integrated feed already carries what the venue feeds do.
  for (const [venue, integrated, what] of [['H0STCNT0', 'H0UNCNT0', 'every KRX trade'], ['H0NXCNT0', 'H0UNCNT0', 'every NXT trade'], ['H0STASP0', 'H0UNASP0', 'KRX books'], ['H0NXASP0', 'H0UNASP0', 'NXT books']] as const) {
    if (trs.includes(venue) && trs.includes(integrated)) problems.push(`KIS_TRS: ${venue} and ${integrated} together would publish ${what} twice; pick one`);
  }
  if (c.account === 'virtual') {
    const realOnly = trs.filter((t) => trSpec(t)?.realOnly);
    if (realOnly.length > 0) problems.push(`KIS_TRS: ${realOnly.join(', ')} are served to real accounts only (KIS_ACCOUNT=virtual)`);
  }
  if (c.symbols.length === 0 && !c.symbolsFile) problems.push('KIS_SYMBOLS or KIS_SYMBOLS_FILE: no symbol to subscribe');
  if (c.reconnectMaxMs < c.reconnectBaseMs) problems.push(`KIS_RECONNECT_MAX_MS (${c.reconnectMaxMs}) is below KIS_RECONNECT_BASE_MS (${c.reconnectBaseMs})`);
  if (c.reconnectMaxMs < c.slotHoldMs) problems.push(`KIS_RECONNECT_MAX_MS (${c.reconnectMaxMs}) is below KIS_SLOT_HOLD_MS (${c.slotHoldMs})`);
  if (c.stableMs <= c.ackTimeoutMs) problems.push(`KIS_STABLE_MS (${c.stableMs}) must exceed KIS_ACK_TIMEOUT_MS (${c.ackTimeoutMs}): a connection dropped for an unanswered request must not count as healthy`);
  if (c.subscribesPerKey < c.maxRegistrations) problems.push(`KIS_MAX_SUBSCRIBES_PER_KEY (${c.subscribesPerKey}) is below KIS_MAX_REGISTRATIONS (${c.maxRegistrations}): one session could not even be filled`);
  if (c.connectsPerProcess < c.appKeys.length) problems.push(`KIS_MAX_CONNECTS_PER_PROCESS (${c.connectsPerProcess}) is below the number of app keys (${c.appKeys.length})`);
  if (problems.length > 0) {
    throw new AppError('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`, { context: { problems } });
  }
  const endpoints = KIS_ENDPOINTS[c.account];
  return {
    credentials: c.appKeys.map((appKey, i) => ({ appKey, appSecret: c.appSecrets[i] as string })),
    account: c.account,
    restUrl: (c.restUrl ?? endpoints.rest).replace(/\/+$/, ''),
    wsUrl: c.wsUrl ?? endpoints.ws,
    trs,
  };
}
