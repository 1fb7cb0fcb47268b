import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { generateListings, type Listing } from '../../../producers/simulator/listings.js';
import { MarketSimulator } from '../../../producers/simulator/market.js';
import type { SessionMode } from '../../../producers/simulator/session.js';
import type { OrderBook, Tick } from '../../../schemas/generated/types.js';
import { KisRecordFormatter, kstParts } from './format.js';
import { FAKE_TRS } from './layout.js';

export interface FakeAccount {
  appKey: string;
  appSecret: string;
}

export interface FakeKisOptions {
  accounts: readonly FakeAccount[];
  host?: string;
  /** 0 = any free port. REST and WebSocket listen apart, like the real endpoints. */
  restPort?: number;
  wsPort?: number;
  /** The simulator's universe: generateListings(universe, seed). */
  universe?: number;
  seed?: number;
  /** Whole-market trades per second of the simulator (only subscribed symbols are sent). */
  ticksPerSecond?: number;
  session?: SessionMode;
  /** Registrations per connection, counted across TR ids (the 42nd is refused by default). */
  maxRegistrations?: number;
  pingIntervalMs?: number;
  /** An unanswered PINGPONG older than this closes the session (default: one interval). */
  pongTimeoutMs?: number;
  /** Records per data frame at most (`count`); the real feed batches mostly around open and close. */
  maxRecordsPerFrame?: number;
  /** Simulator step: the market advances with the wall clock in steps of this size. */
  stepMs?: number;
  /** Keep every record sent (tests compare it with what reached Kafka); off for long runs. */
  recordSent?: boolean;
  /** REST requests per second per app key before EGW00201 (0 = no limit). */
  restRateLimit?: number;
  /** Start with the market moving (default) or paused. */
  marketRunning?: boolean;
  /**
   * After a connection of an app key closes without a close handshake, the key's session slot stays
   * taken this long (the real server: tens of seconds): meanwhile approval keys issued before the drop
   * get OPSP0011 and newer ones OPSP8996 (reference §3). 0 = released at once.
   */
  slotHoldMs?: number;
  /** More than this many sessions claimed by one app key within `lockoutWindowMs` lock the key out (0 = never). */
  lockoutConnects?: number;
  lockoutWindowMs?: number;
  /** How long a locked-out key is refused (every request answered OPSP8996). */
  lockoutMs?: number;
  /** Records in the layouts since 2026-09-14 (47 / 63 / 66 fields, default) or the older ones (46 / 59 / 65). */
  layout2026?: boolean;
  /** The market's clock runs this far ahead of the wall clock (e.g. to KST 11:00 for the krx session mode). */
  marketClockOffsetMs?: number;
}

export interface SentRecord {
  connection: number;
  appKey: string;
  trId: string;
  symbol: string;
  /** ACML_VOL of a trade record (the producer's sequence), 0 for books. */
  cumulativeVolume: number;
  record: string;
  encrypted: boolean;
}

export interface Answer {
  /** Epoch ms when the request was answered. */
  at: number;
  connection: number;
  appKey: string | undefined;
  trId: string;
  trKey: string;
  trType: string;
  msgCd: string;
}

export interface ConnectionInfo {
  id: number;
  appKey: string | undefined;
  open: boolean;
  registrations: Array<{ trId: string; trKey: string }>;
  maxRegistrationsHeld: number;
  closeReason: string | undefined;
  openedAt: number;
  closedAt: number | undefined;
  pingsSent: number;
  pongsReceived: number;
  /** Epoch ms of the first data frame sent on this connection. */
  firstDataAt: number | undefined;
}

export type MalformedKind = 'garbage' | 'bad-count' | 'short-record' | 'bad-number' | 'bad-json' | 'unknown-tr' | 'bad-encryption';

interface Conn {
  id: number;
  ws: WebSocket;
  appKey: string | undefined;
  /** The app key this connection tried to claim a session for (a connection claims once). */
  claimed: string | undefined;
  regs: Map<string, { trId: string; trKey: string }>;
  maxHeld: number;
  key: string;
  iv: string;
  awaitingSince: number | null;
  ignorePongs: boolean;
  open: boolean;
  openedAt: number;
  closedAt: number | undefined;
  closeReason: string | undefined;
  pingsSent: number;
  lastPingAt: number;
  pongs: number;
  firstDataAt: number | undefined;
  queue: Array<{ trId: string; record: string; symbol: string; cumulativeVolume: number }>;
}

interface ApprovalKey {
  appKey: string;
  valid: boolean;
  issuedAt: number;
}

/** An app key's session slot held after a drop. */
interface HeldSlot {
  until: number;
  droppedAt: number;
}

const ANSWERS: Record<string, { rt: string; msg: string }> = {
  OPSP0000: { rt: '0', msg: 'SUBSCRIBE SUCCESS' },
  OPSP0001: { rt: '0', msg: 'UNSUBSCRIBE SUCCESS' },
  OPSP0002: { rt: '1', msg: 'ALREADY IN SUBSCRIBE' },
  OPSP0003: { rt: '1', msg: 'UNSUBSCRIBE ERROR(not found!)' },
  OPSP0007: { rt: '9', msg: 'internal error' },
  OPSP0008: { rt: '1', msg: 'MAX SUBSCRIBE OVER' },
  OPSP0009: { rt: '1', msg: 'SUBSCRIBE ERROR' },
  OPSP0010: { rt: '1', msg: 'UNSUBSCRIBE ERROR' },
  OPSP0011: { rt: '1', msg: 'invalid approval : NOT FOUND' },
  OPSP8991: { rt: '9', msg: 'invalid tr_id' },
  OPSP8992: { rt: '9', msg: 'invalid tr_key' },
  OPSP8996: { rt: '9', msg: 'ALREADY IN USE appkey' },
  OPSP9999: { rt: '9', msg: 'SERVER ERROR' },
};

/** Answers that name no request: the server writes "tr_id":"(null)" and an empty tr_key (reference §3). */
const UNNAMED_ANSWERS = new Set(['OPSP8996', 'OPSP9999']);

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const randomLetters = (n: number) => Array.from(randomBytes(n), (b) => LOWER[b % 26]).join('');

/** AES-256-CBC, PKCS7, key/iv = the UTF-8 bytes of the ack's strings, base64: what KIS does. */
export function kisEncrypt(plain: string, key: string, iv: string): string {
  const c = createCipheriv('aes-256-cbc', Buffer.from(key, 'utf8'), Buffer.from(iv, 'utf8'));
  return Buffer.concat([c.update(plain, 'utf8'), c.final()]).toString('base64');
}

/**
 * A KIS real-time server that follows the reference exactly: approval keys over REST, one WebSocket
 * session per app key, acks with a 16-character iv and a 32-character key, every error code of the
 * reference, the registration limit, PINGPONG heartbeats that must be answered, batched and encrypted
 * data frames. Its market is the project's MarketSimulator (order books on), formatted into H0STCNT0 /
 * H0STASP0 records for the symbols each connection subscribed. Tests steer it through the methods below.
 */
export class FakeKisServer {
  readonly listings: Listing[];
  readonly sent: SentRecord[] = [];
  readonly answers: Answer[] = [];
  /** Approval requests per app key, granted or not. */
  readonly approvalRequests = new Map<string, number>();
  /** When each app key claimed a session (a connection's first request with its approval key). */
  readonly sessionClaims = new Map<string, number[]>();
  /** Every lock-out: app key and when (tests check there is none). */
  readonly lockouts: Array<{ appKey: string; at: number; claims: number }> = [];
  /** Slots freed after a hold: app key and when (tests measure recovery from it). */
  readonly slotReleases: Array<{ appKey: string; at: number }> = [];
  restUrl = '';
  wsUrl = '';

  private readonly accounts: Map<string, string>;
  private readonly approvals = new Map<string, ApprovalKey>();
  private readonly brokenApprovals = new Set<string>();
  private readonly failNext = new Map<string, string[]>();
  private readonly conns = new Map<number, Conn>();
  private readonly subscribers = new Map<string, Set<Conn>>();
  private readonly fieldCounts = new Map<string, number>();
  private readonly encrypted = new Set<string>();
  private readonly restHits = new Map<string, number[]>();
  private readonly heldSlots = new Map<string, HeldSlot>();
  private readonly lockedUntil = new Map<string, number>();
  private readonly sim: MarketSimulator;
  private readonly formatter: KisRecordFormatter;
  private readonly opts: Required<Omit<FakeKisOptions, 'accounts' | 'host' | 'restPort' | 'wsPort' | 'pongTimeoutMs'>> & { pongTimeoutMs: number };
  private slotTimer: NodeJS.Timeout | null = null;
  private rest: http.Server | null = null;
  private wsHttp: http.Server | null = null;
  private wss: WebSocketServer | null = null;
  private nextId = 1;
  private simTime = Date.now() * 1000;
  /** How far the market's clock runs ahead of the wall clock (a burst moves it ahead). */
  private clockOffset = 0;
  private running: boolean;
  private marketTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private bursting = false;
  burstState: { trades: number; frames: number; generatedMs: number; sentFrames: number; done: boolean } | null = null;

  constructor(options: FakeKisOptions) {
    const pingIntervalMs = options.pingIntervalMs ?? 5_000;
    this.opts = {
      universe: options.universe ?? 200,
      seed: options.seed ?? 42,
      ticksPerSecond: options.ticksPerSecond ?? 200,
      session: options.session ?? 'always',
      maxRegistrations: options.maxRegistrations ?? 41,
      pingIntervalMs,
      pongTimeoutMs: options.pongTimeoutMs ?? pingIntervalMs,
      maxRecordsPerFrame: Math.min(999, Math.max(1, options.maxRecordsPerFrame ?? 1)),
      stepMs: options.stepMs ?? 50,
      recordSent: options.recordSent ?? true,
      restRateLimit: options.restRateLimit ?? 0,
      marketRunning: options.marketRunning ?? true,
      slotHoldMs: options.slotHoldMs ?? 0,
      lockoutConnects: options.lockoutConnects ?? 0,
      lockoutWindowMs: options.lockoutWindowMs ?? 60_000,
      lockoutMs: options.lockoutMs ?? 3_600_000,
      layout2026: options.layout2026 ?? true,
      marketClockOffsetMs: options.marketClockOffsetMs ?? 0,
    };
    this.accounts = new Map(options.accounts.map((a) => [a.appKey, a.appSecret]));
    this.listings = generateListings(this.opts.universe, this.opts.seed);
    this.sim = new MarketSimulator({ listings: this.listings, seed: this.opts.seed, ticksPerSecond: this.opts.ticksPerSecond, mode: this.opts.session, orderBooks: true });
    this.formatter = new KisRecordFormatter(this.listings);
    this.running = this.opts.marketRunning;
    this.clockOffset = Math.round((options.marketClockOffsetMs ?? 0) * 1000);
  }

  static async start(options: FakeKisOptions): Promise<FakeKisServer> {
    const server = new FakeKisServer(options);
    await server.listen(options.host ?? '127.0.0.1', options.restPort ?? 0, options.wsPort ?? 0);
    return server;
  }

  private async listen(host: string, restPort: number, wsPort: number): Promise<void> {
    this.rest = http.createServer((req, res) => void this.onRest(req, res));
    this.wsHttp = http.createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('WebSocket only\n');
    });
    // No `path` option: the real clients use none, /tryitout or /tryitout/<TR_ID>; every path is accepted.
    this.wss = new WebSocketServer({ server: this.wsHttp, perMessageDeflate: false });
    this.wss.on('connection', (ws) => this.onConnection(ws));
    const listen = (s: http.Server, port: number) => new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => resolve((s.address() as AddressInfo).port));
    });
    this.restUrl = `http://${host}:${await listen(this.rest, restPort)}`;
    this.wsUrl = `ws://${host}:${await listen(this.wsHttp, wsPort)}`;
    this.simTime = this.clock();
    this.marketTimer = setInterval(() => this.step(), this.opts.stepMs);
    this.pingTimer = setInterval(() => this.heartbeat(), Math.max(10, Math.min(this.opts.pingIntervalMs, this.opts.pongTimeoutMs)));
    this.slotTimer = setInterval(() => this.releaseSlots(), 10);
  }

  async close(): Promise<void> {
    if (this.marketTimer) clearInterval(this.marketTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.slotTimer) clearInterval(this.slotTimer);
    for (const c of this.conns.values()) if (c.open) c.ws.terminate();
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    for (const s of [this.rest, this.wsHttp]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  // ---- inspection -------------------------------------------------------------------------------

  connections(): ConnectionInfo[] {
    return [...this.conns.values()].map((c) => ({
      id: c.id,
      appKey: c.appKey,
      open: c.open,
      registrations: [...c.regs.values()],
      maxRegistrationsHeld: c.maxHeld,
      closeReason: c.closeReason,
      openedAt: c.openedAt,
      closedAt: c.closedAt,
      pingsSent: c.pingsSent,
      pongsReceived: c.pongs,
      firstDataAt: c.firstDataAt,
    }));
  }

  /** The open connection that holds `appKey`'s session, if any. */
  session(appKey: string): ConnectionInfo | undefined {
    return this.connections().find((c) => c.open && c.appKey === appKey);
  }

  /** Registrations of `appKey`'s open session as sorted `tr_id|tr_key` strings. */
  registrations(appKey: string): string[] {
    return (this.session(appKey)?.registrations ?? []).map((r) => `${r.trId}|${r.trKey}`).sort();
  }

  /** Every approval key issued so far (a test checks none of them reached a log). */
  issuedApprovalKeys(): string[] {
    return [...this.approvals.keys()];
  }

  isMarketRunning(): boolean {
    return this.running;
  }

  // ---- commands ---------------------------------------------------------------------------------

  /** Cuts `appKey`'s connection without a close handshake, like a network drop. Returns its id. */
  dropConnection(appKey: string): number | undefined {
    const c = this.openConn(appKey);
    if (!c) return undefined;
    this.closeConn(c, 'dropped by test', true);
    c.ws.terminate();
    return c.id;
  }

  /** Whether `appKey`'s slot is still held after a drop. */
  slotHeld(appKey: string): boolean {
    return this.heldSlots.has(appKey);
  }

  setSlotHoldMs(ms: number): void {
    this.opts.slotHoldMs = ms;
  }

  /** Sends raw bytes on `appKey`'s session as a text frame (e.g. bytes that are not UTF-8), or as a binary one. */
  sendBytes(appKey: string, bytes: Buffer, binary = false): void {
    const c = this.openConn(appKey);
    if (!c) throw new Error(`fake KIS: ${appKey} has no open session`);
    c.ws.send(bytes, { binary });
  }

  /** From now on, `appKey`'s current connection's PINGPONG replies count as missing. */
  ignorePongs(appKey: string): number | undefined {
    const c = this.openConn(appKey);
    if (c) c.ignorePongs = true;
    return c?.id;
  }

  /** Every approval key issued so far (for one app key or all) stops being valid. */
  expireApprovalKeys(appKey?: string): void {
    for (const a of this.approvals.values()) if (appKey === undefined || a.appKey === appKey) a.valid = false;
  }

  /** Approval keys issued to `appKey` while on are refused when used (the renewal does not help). */
  rejectApprovals(appKey: string, on = true): void {
    if (on) this.brokenApprovals.add(appKey);
    else this.brokenApprovals.delete(appKey);
  }

  /** The next (un)subscribe requests of `appKey` are answered with these codes, e.g. OPSP0007. */
  failNextRequests(appKey: string, ...msgCds: string[]): void {
    this.failNext.set(appKey, [...(this.failNext.get(appKey) ?? []), ...msgCds]);
  }

  /** Records of `trId` get this many fields: more appends trailing fields, fewer cuts them. */
  setFieldCount(trId: string, count: number | undefined): void {
    if (count === undefined) this.fieldCounts.delete(trId);
    else this.fieldCounts.set(trId, count);
  }

  /** Frames of `trId` are sent encrypted (enc 1) with each connection's ack key and iv. */
  setEncrypted(trId: string, on: boolean): void {
    if (on) this.encrypted.add(trId);
    else this.encrypted.delete(trId);
  }

  setMaxRegistrations(n: number): void {
    this.opts.maxRegistrations = n;
  }

  pauseMarket(): void {
    this.running = false;
  }

  resumeMarket(): void {
    this.simTime = Math.max(this.simTime, this.clock());
    this.running = true;
  }

  private clock(): number {
    return Date.now() * 1000 + this.clockOffset;
  }

  /** Sends one malformed frame on `appKey`'s session; returns its text. */
  sendMalformed(appKey: string, kind: MalformedKind): string {
    const c = this.openConn(appKey);
    if (!c) throw new Error(`fake KIS: ${appKey} has no open session`);
    const symbol = [...c.regs.values()][0]?.trKey ?? '005930';
    const t = kstParts(this.simTime);
    const good = (over: Record<number, string>) => {
      const f = Array.from({ length: 46 }, (_, i) => over[i] ?? '0');
      f[0] = over[0] ?? symbol;
      f[1] = over[1] ?? t.time;
      f[33] = over[33] ?? t.date;
      return f;
    };
    let text: string;
    switch (kind) {
      case 'garbage': text = 'this is not a KIS frame'; break;
      case 'bad-count': text = `0|H0STCNT0|002|${good({ 2: '1000', 12: '1', 13: '1' }).join('^')}`; break;
      case 'short-record': text = `0|H0STCNT0|001|${good({ 2: '1000', 12: '1', 13: '1' }).slice(0, 40).join('^')}`; break;
      case 'bad-number': text = `0|H0STCNT0|001|${good({ 2: '6l700', 12: '1', 13: '1' }).join('^')}`; break;
      case 'bad-json': text = '{"header":{"tr_id":"H0STCNT0"'; break;
      case 'unknown-tr': text = `0|H0XXXXX0|001|${good({}).join('^')}`; break;
      case 'bad-encryption': text = `1|H0STCNT0|001|${Buffer.from('not encrypted with the key').toString('base64')}`; break;
    }
    c.ws.send(text);
    return text;
  }

  /** Sends any text on `appKey`'s session. */
  sendRaw(appKey: string, text: string): void {
    const c = this.openConn(appKey);
    if (!c) throw new Error(`fake KIS: ${appKey} has no open session`);
    c.ws.send(text);
  }

  /**
   * For the benchmark: pauses the live market, generates `seconds` of it at once (not timed), formats
   * it into frames of `recordsPerFrame` records for the current subscriptions, then sends them as fast
   * as each socket drains. `burstState` tells how far it got.
   */
  async burst(seconds: number, recordsPerFrame: number): Promise<{ trades: number; frames: number; generatedMs: number }> {
    if (this.bursting) throw new Error('fake KIS: a burst is already running');
    this.bursting = true;
    const wasRunning = this.running;
    this.running = false;
    const started = Date.now();
    const frames = new Map<Conn, string[]>();
    let trades = 0;
    const stepMicros = 100_000;
    const end = this.simTime + seconds * 1_000_000;
    const previous = this.opts.maxRecordsPerFrame;
    this.opts.maxRecordsPerFrame = Math.min(999, recordsPerFrame);
    try {
      while (this.simTime < end) {
        const to = Math.min(end, this.simTime + stepMicros);
        const events = this.sim.advance(this.simTime, to, to);
        this.simTime = to;
        this.dispatch(events.ticks, events.books);
        for (const c of this.conns.values()) {
          if (!c.open || c.queue.length === 0) continue;
          trades += c.queue.filter((q) => FAKE_TRS[q.trId]?.kind === 'trade').length;
          const list = frames.get(c) ?? [];
          list.push(...this.frames(c, false));
          frames.set(c, list);
        }
      }
    } finally {
      this.opts.maxRecordsPerFrame = previous;
    }
    const generatedMs = Date.now() - started;
    let total = 0;
    for (const list of frames.values()) total += list.length;
    this.burstState = { trades, frames: total, generatedMs, sentFrames: 0, done: false };
    const state = this.burstState;
    void Promise.all([...frames].map(async ([c, list]) => {
      for (const f of list) {
        while (c.open && c.ws.bufferedAmount > 4 * 1024 * 1024) await new Promise((r) => setTimeout(r, 1));
        if (!c.open) return;
        c.ws.send(f);
        state.sentFrames++;
      }
    })).finally(() => {
      state.done = true;
      this.bursting = false;
      // The market went ahead of the wall clock: from now on it runs that much ahead, without a gap.
      this.clockOffset = Math.max(this.clockOffset, this.simTime - Date.now() * 1000);
      this.running = wasRunning;
    });
    return { trades, frames: total, generatedMs };
  }

  // ---- REST -------------------------------------------------------------------------------------

  private async onRest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    let body: Record<string, unknown> = {};
    try {
      body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      return send(400, { error_code: 'EGW00002', error_description: 'invalid JSON' });
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith('/__fake/')) return this.onControl(req.method ?? 'GET', path.slice('/__fake/'.length), body, send);
    if (req.method !== 'POST' || path !== '/oauth2/Approval') return send(404, { error_code: 'EGW00001', error_description: 'not found' });

    const appKey = typeof body['appkey'] === 'string' ? body['appkey'] : '';
    if (this.opts.restRateLimit > 0 && appKey) {
      const now = Date.now();
      const hits = (this.restHits.get(appKey) ?? []).filter((t) => now - t < 1000);
      hits.push(now);
      this.restHits.set(appKey, hits);
      // The reference notes this answer sometimes comes with HTTP 200.
      if (hits.length > this.opts.restRateLimit) return send(200, { rt_cd: '1', msg_cd: 'EGW00201', msg1: '초당 거래건수를 초과하였습니다.' });
    }
    this.approvalRequests.set(appKey, (this.approvalRequests.get(appKey) ?? 0) + 1);
    if (body['grant_type'] !== 'client_credentials') return send(400, { error_code: 'EGW00004', error_description: 'grant_type must be client_credentials' });
    if (!this.accounts.has(appKey) || this.accounts.get(appKey) !== body['secretkey']) {
      return send(403, { error_code: 'EGW00103', error_description: '유효하지 않은 AppKey입니다.' });
    }
    const key = randomUUID();
    this.approvals.set(key, { appKey, valid: !this.brokenApprovals.has(appKey), issuedAt: Date.now() });
    return send(200, { approval_key: key });
  }

  /** The HTTP control API (used when the fake runs in its own process: main.ts, the benchmark). */
  private onControl(method: string, command: string, body: Record<string, unknown>, send: (status: number, body: unknown) => void): void {
    const appKey = typeof body['appKey'] === 'string' ? body['appKey'] : '';
    try {
      if (method === 'GET' && command === 'state') {
        return send(200, {
          connections: this.connections(), answers: this.answers.length, sent: this.sent.length, market: this.running, burst: this.burstState,
          lockouts: this.lockouts, slotReleases: this.slotReleases, sessionClaims: Object.fromEntries(this.sessionClaims),
        });
      }
      if (method !== 'POST') return send(405, { error: 'POST commands' });
      switch (command) {
        case 'drop': return send(200, { connection: this.dropConnection(appKey) ?? null, droppedAt: Date.now() });
        case 'ignore-pongs': return send(200, { connection: this.ignorePongs(appKey) ?? null });
        case 'expire-approvals': this.expireApprovalKeys(appKey || undefined); return send(200, {});
        case 'fail-next': this.failNextRequests(appKey, String(body['msgCd'])); return send(200, {});
        case 'field-count': this.setFieldCount(String(body['trId']), body['count'] === null ? undefined : Number(body['count'])); return send(200, {});
        case 'encrypt': this.setEncrypted(String(body['trId']), body['on'] === true); return send(200, {});
        case 'layout2026': this.opts.layout2026 = body['on'] === true; return send(200, { layout2026: this.opts.layout2026 });
        case 'malformed': return send(200, { text: this.sendMalformed(appKey, String(body['kind']) as MalformedKind) });
        case 'market':
          if (body['running'] === true) this.resumeMarket();
          else this.pauseMarket();
          return send(200, { running: this.running });
        case 'burst':
          this.burst(Number(body['seconds'] ?? 5), Number(body['recordsPerFrame'] ?? 100)).then((r) => send(200, r), (err: Error) => send(409, { error: err.message }));
          return;
        default: return send(404, { error: `unknown command ${command}` });
      }
    } catch (err) {
      return send(400, { error: (err as Error).message });
    }
  }

  // ---- WebSocket --------------------------------------------------------------------------------

  private onConnection(ws: WebSocket): void {
    const c: Conn = {
      id: this.nextId++, ws, appKey: undefined, claimed: undefined, regs: new Map(), maxHeld: 0,
      key: randomLetters(32), iv: randomBytes(8).toString('hex'),
      awaitingSince: null, ignorePongs: false, open: true, openedAt: Date.now(), closedAt: undefined, closeReason: undefined,
      pingsSent: 0, lastPingAt: Date.now(), pongs: 0, firstDataAt: undefined, queue: [],
    };
    this.conns.set(c.id, c);
    ws.on('message', (data: Buffer) => this.onMessage(c, data.toString('utf8')));
    ws.on('pong', () => this.onPong(c));
    // 1006: the client went away without a close handshake, so the server keeps its slot for a while.
    ws.on('close', (code: number) => this.closeConn(c, c.closeReason ?? 'closed by client', code === 1006));
    ws.on('error', () => undefined);
  }

  private closeConn(c: Conn, reason: string, abnormal = false): void {
    if (!c.open) return;
    c.open = false;
    c.closedAt = Date.now();
    c.closeReason = reason;
    for (const k of c.regs.keys()) this.subscribers.get(k)?.delete(c);
    if (abnormal && c.appKey !== undefined && this.opts.slotHoldMs > 0) {
      this.heldSlots.set(c.appKey, { until: c.closedAt + this.opts.slotHoldMs, droppedAt: c.closedAt });
    }
  }

  private releaseSlots(): void {
    const now = Date.now();
    for (const [appKey, held] of this.heldSlots) {
      if (held.until > now) continue;
      this.heldSlots.delete(appKey);
      this.slotReleases.push({ appKey, at: now });
    }
  }

  /** A connection claims `appKey`'s session; true if the key is (now) locked out for claiming too often. */
  private claim(appKey: string): boolean {
    const now = Date.now();
    if ((this.lockedUntil.get(appKey) ?? 0) > now) return true;
    const claims = [...(this.sessionClaims.get(appKey) ?? []), now];
    this.sessionClaims.set(appKey, claims);
    if (this.opts.lockoutConnects <= 0) return false;
    const recent = claims.filter((t) => now - t < this.opts.lockoutWindowMs).length;
    if (recent <= this.opts.lockoutConnects) return false;
    this.lockedUntil.set(appKey, now + this.opts.lockoutMs);
    this.lockouts.push({ appKey, at: now, claims: recent });
    return true;
  }

  private openConn(appKey: string): Conn | undefined {
    return [...this.conns.values()].find((c) => c.open && c.appKey === appKey);
  }

  private onPong(c: Conn): void {
    if (c.ignorePongs) return;
    c.pongs++;
    c.awaitingSince = null;
  }

  private onMessage(c: Conn, text: string): void {
    let msg: { header?: Record<string, unknown>; body?: { input?: Record<string, unknown> } };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return this.answer(c, '', '', '', 'OPSP0007');
    }
    const trId = String(msg.header?.['tr_id'] ?? msg.body?.input?.['tr_id'] ?? '');
    if (trId === 'PINGPONG') return this.onPong(c);
    const header = msg.header ?? {};
    const input = msg.body?.input ?? {};
    const trKey = String(input['tr_key'] ?? '');
    const trType = String(header['tr_type'] ?? '');
    const approval = this.approvals.get(String(header['approval_key'] ?? ''));
    if (!approval || !approval.valid) return this.answer(c, trId, trKey, trType, 'OPSP0011');
    if (c.appKey === undefined) {
      const fresh = c.claimed !== approval.appKey;
      c.claimed = approval.appKey;
      if (fresh ? this.claim(approval.appKey) : (this.lockedUntil.get(approval.appKey) ?? 0) > Date.now()) return this.answer(c, trId, trKey, trType, 'OPSP8996');
      const held = this.heldSlots.get(approval.appKey);
      if (held) return this.answer(c, trId, trKey, trType, approval.issuedAt <= held.droppedAt ? 'OPSP0011' : 'OPSP8996');
      if (this.openConn(approval.appKey)) return this.answer(c, trId, trKey, trType, 'OPSP8996');
      c.appKey = approval.appKey;
    }
    if (!FAKE_TRS[trId]) return this.answer(c, trId, trKey, trType, 'OPSP8991');
    if (!/^[0-9A-Z]{6}$/.test(trKey)) return this.answer(c, trId, trKey, trType, 'OPSP8992');
    if (!['P', 'B'].includes(String(header['custtype'] ?? ''))) return this.answer(c, trId, trKey, trType, 'OPSP0007');
    const k = `${trId}|${trKey}`;
    const injected = this.failNext.get(c.appKey)?.shift();
    if (injected) {
      // An injected answer means what it says: ALREADY IN SUBSCRIBE leaves the registration in place,
      // UNSUBSCRIBE ERROR(not found!) leaves none; the other codes change nothing.
      if (injected === 'OPSP0002') this.register(c, k, trId, trKey);
      if (injected === 'OPSP0003') this.unregister(c, k);
      return this.answer(c, trId, trKey, trType, injected);
    }
    if (trType === '1') {
      if (c.regs.has(k)) return this.answer(c, trId, trKey, trType, 'OPSP0002');
      if (c.regs.size >= this.opts.maxRegistrations) return this.answer(c, trId, trKey, trType, 'OPSP0008');
      this.register(c, k, trId, trKey);
      return this.answer(c, trId, trKey, trType, 'OPSP0000');
    }
    if (trType === '2') {
      if (!c.regs.has(k)) return this.answer(c, trId, trKey, trType, 'OPSP0003');
      this.unregister(c, k);
      return this.answer(c, trId, trKey, trType, 'OPSP0001');
    }
    return this.answer(c, trId, trKey, trType, 'OPSP0007');
  }

  private register(c: Conn, k: string, trId: string, trKey: string): void {
    c.regs.set(k, { trId, trKey });
    c.maxHeld = Math.max(c.maxHeld, c.regs.size);
    let subs = this.subscribers.get(k);
    if (!subs) this.subscribers.set(k, (subs = new Set()));
    subs.add(c);
  }

  private unregister(c: Conn, k: string): void {
    c.regs.delete(k);
    this.subscribers.get(k)?.delete(c);
  }

  private answer(c: Conn, trId: string, trKey: string, trType: string, msgCd: string): void {
    const a = ANSWERS[msgCd] ?? { rt: '1', msg: msgCd };
    this.answers.push({ at: Date.now(), connection: c.id, appKey: c.appKey, trId, trKey, trType, msgCd });
    const ok = msgCd === 'OPSP0000' || msgCd === 'OPSP0001';
    const unnamed = UNNAMED_ANSWERS.has(msgCd);
    c.ws.send(JSON.stringify({
      header: { tr_id: unnamed ? '(null)' : trId, tr_key: unnamed ? '' : trKey, encrypt: this.encrypted.has(trId) ? 'Y' : 'N' },
      body: { rt_cd: a.rt, msg_cd: msgCd, msg1: a.msg, ...(ok ? { output: { iv: c.iv, key: c.key } } : {}) },
    }));
  }

  private heartbeat(): void {
    const now = Date.now();
    for (const c of this.conns.values()) {
      if (!c.open) continue;
      if (c.awaitingSince !== null && now - c.awaitingSince >= this.opts.pongTimeoutMs) {
        this.closeConn(c, 'PINGPONG not answered');
        c.ws.close(1000, 'PINGPONG not answered');
        continue;
      }
      if (now - c.lastPingAt < this.opts.pingIntervalMs) continue;
      const { date, time } = kstParts(now * 1000);
      c.ws.send(JSON.stringify({ header: { tr_id: 'PINGPONG', datetime: `${date}${time}` } }));
      c.pingsSent++;
      c.lastPingAt = now;
      if (c.awaitingSince === null) c.awaitingSince = now;
    }
  }

  // ---- market -----------------------------------------------------------------------------------

  private step(): void {
    const now = this.clock();
    if (!this.running || this.bursting || now <= this.simTime) {
      if (!this.running && !this.bursting) this.simTime = Math.max(this.simTime, now);
      return;
    }
    const { ticks, books } = this.sim.advance(this.simTime, now, now);
    this.simTime = now;
    this.dispatch(ticks, books);
    for (const c of this.conns.values()) {
      if (!c.open || c.queue.length === 0) continue;
      for (const f of this.frames(c, this.opts.recordSent)) c.ws.send(f);
    }
  }

  /**
   * Formats the events in exchange-time order (a trade before the book it leaves) into each subscriber's
   * queue: KRX events to H0ST*, NXT events to H0NX*, both to the integrated H0UN* (its trades carry the
   * cumulative volume of both venues; its books are each venue's book as it changes).
   */
  private dispatch(ticks: readonly Tick[], books: readonly OrderBook[]): void {
    const l26 = this.opts.layout2026;
    let i = 0;
    let j = 0;
    while (i < ticks.length || j < books.length) {
      const t = ticks[i];
      const b = books[j];
      if (t && (!b || t.exchangeTime <= b.exchangeTime)) {
        i++;
        const own = t.venue === 'NXT' ? 'H0NXCNT0' : 'H0STCNT0';
        const u = this.subscribers.get(`H0UNCNT0|${t.symbol}`);
        const record = this.formatter.trade(t, l26, (u?.size ?? 0) > 0); // always: the day's statistics include every trade
        const subs = this.subscribers.get(`${own}|${t.symbol}`);
        if (subs) for (const c of subs) c.queue.push({ trId: own, record, symbol: t.symbol, cumulativeVolume: t.cumulativeVolume });
        if (u?.size) {
          const combined = this.formatter.lastCombined;
          for (const c of u) c.queue.push({ trId: 'H0UNCNT0', record: combined.record, symbol: t.symbol, cumulativeVolume: combined.cumulativeVolume });
        }
      } else if (b) {
        j++;
        const own = b.venue === 'NXT' ? 'H0NXASP0' : 'H0STASP0';
        const a = this.subscribers.get(`${own}|${b.symbol}`);
        const u = this.subscribers.get(`H0UNASP0|${b.symbol}`);
        if (!a?.size && !u?.size) {
          this.formatter.noteBook(b);
          continue;
        }
        const record = this.formatter.book(b, own === 'H0NXASP0', l26);
        const combined = u?.size ? this.formatter.book(b, true, l26) : '';
        if (a) for (const c of a) c.queue.push({ trId: own, record, symbol: b.symbol, cumulativeVolume: 0 });
        if (u) for (const c of u) c.queue.push({ trId: 'H0UNASP0', record: combined, symbol: b.symbol, cumulativeVolume: 0 });
      }
    }
  }

  /** Cuts a connection's queue into frames: consecutive records of one TR, up to maxRecordsPerFrame. */
  private frames(c: Conn, record: boolean): string[] {
    const out: string[] = [];
    const q = c.queue;
    c.queue = [];
    let start = 0;
    while (start < q.length) {
      const trId = (q[start] as Conn['queue'][number]).trId;
      let end = start + 1;
      while (end < q.length && end - start < this.opts.maxRecordsPerFrame && (q[end] as Conn['queue'][number]).trId === trId) end++;
      const items = q.slice(start, end);
      start = end;
      const width = this.fieldCounts.get(trId);
      const records = items.map((it) => (width === undefined ? it.record : reshape(it.record, width)));
      const enc = this.encrypted.has(trId);
      const payload = records.join('^');
      out.push(`${enc ? 1 : 0}|${trId}|${String(items.length).padStart(3, '0')}|${enc ? kisEncrypt(payload, c.key, c.iv) : payload}`);
      if (record) {
        items.forEach((it, n) => this.sent.push({
          connection: c.id, appKey: c.appKey ?? '', trId, symbol: it.symbol, cumulativeVolume: it.cumulativeVolume, record: records[n] as string, encrypted: enc,
        }));
      }
    }
    if (out.length > 0 && c.firstDataAt === undefined) c.firstDataAt = Date.now();
    return out;
  }
}

/** A record with `width` fields: trailing fields added (some empty, some negative) or cut off. */
function reshape(record: string, width: number): string {
  const fields = record.split('^');
  if (width <= fields.length) return fields.slice(0, width).join('^');
  const extra = ['7', '', '-12', 'X'];
  for (let i = fields.length; i < width; i++) fields.push(extra[i % extra.length] as string);
  return fields.join('^');
}
