import WebSocket from 'ws';
import { AppError, toAppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { nowMicros } from '../../lib/time.js';
import { requestApprovalKey, type Credentials } from './approval.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { MSG, parseControl, requestFrame } from './control.js';
import type { KisCipher } from './crypto.js';
import { isJsonFrame } from './frame.js';
import { msgLabel, type KisMetrics } from './metrics.js';
import { regKey, type Registration } from './planner.js';

export type SessionState = 'idle' | 'authorizing' | 'connecting' | 'open' | 'waiting' | 'failed' | 'stopped';

export interface SessionOptions {
  /** Position of the app key in KIS_APP_KEYS: how logs, metrics and /health name the session. */
  index: number;
  credentials: Credentials;
  restUrl: string;
  wsUrl: string;
  custType: string;
  backoff: BackoffPolicy;
  /** A connection that lived this long counts as healthy: the next reconnect starts the backoff over. */
  stableMs: number;
  /** No answer to a (un)subscribe request for this long: the connection is replaced. */
  ackTimeoutMs: number;
  /** Nothing at all received (KIS sends PINGPONG every few seconds) for this long: the connection is replaced. */
  idleTimeoutMs: number;
  /** Approval keys are valid 24 h; a reconnect after this age asks for a new one first. */
  approvalMaxAgeMs?: number;
  logger: Logger;
  metrics: KisMetrics;
  onData(text: string, receivedMicros: number, session: KisSession): void;
  /** A JSON frame that does not parse (it goes to the dead-letter topic with the data frames that fail). */
  onUnreadable(text: string, receivedMicros: number, err: AppError): void;
  /** The server refused a registration with MAX SUBSCRIBE OVER while holding `held`. */
  onCapacityExceeded(session: KisSession, held: number, refused: Registration): void;
  onStateChange?(session: KisSession): void;
  random?: () => number;
}

interface Request {
  op: 'subscribe' | 'unsubscribe';
  at: number;
  /** Which approval key the request carried (a renewal increments it). */
  generation: number;
}

export interface SessionStatus {
  session: number;
  state: SessionState;
  registrations: number;
  desired: number;
  awaitingAnswers: number;
  connections: number;
  appKeyInUse: boolean;
  lastError?: { code: string; message: string; at: string };
}

const FAULT_RETRY: BackoffPolicy = { baseMs: 1_000, maxMs: 30_000 };

/**
 * One WebSocket session of one app key. It holds the registrations the planner gave it and keeps the
 * server in line with them: (re)subscribes after every (re)connect — so exactly the registrations held
 * before a drop are restored — and unsubscribes what is no longer wanted.
 *
 * Requests are matched to answers per registration in FIFO order (the server answers in order), and
 * a registration never has more than one request in flight, so a late answer is never taken for the
 * answer to a newer request.
 */
export class KisSession {
  private stateValue: SessionState = 'idle';
  private readonly desired = new Map<string, Registration>();
  private readonly confirmed = new Set<string>();
  private readonly inflight = new Map<string, Request[]>();
  private readonly retryAt = new Map<string, number>();
  private readonly faults = new Map<string, number>();
  private readonly ciphers = new Map<string, KisCipher>();
  private approval: { key: string; generation: number; obtainedAt: number } | null = null;
  private generation = 0;
  /** Approval generation at which the server last answered `invalid approval`; -1 if never. */
  private rejectedGeneration = -1;
  private renewing = false;
  private ws: WebSocket | null = null;
  private attempt = 0;
  private openedAt = 0;
  private lastMessageAt = 0;
  private connections = 0;
  private appKeyInUse = false;
  private readyLogged = false;
  private paused = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private lastError: SessionStatus['lastError'];
  private readonly log: Logger;
  private readonly label: string;

  constructor(private readonly o: SessionOptions) {
    this.label = String(o.index);
    this.log = o.logger.child({ component: 'kis-session', session: o.index });
  }

  get index(): number {
    return this.o.index;
  }

  get state(): SessionState {
    return this.stateValue;
  }

  private setState(state: SessionState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.o.onStateChange?.(this);
  }

  /** The key and iv of the last ack for `trId`, for encrypted frames. */
  cipherFor(trId: string): KisCipher | undefined {
    return this.ciphers.get(trId);
  }

  registrations(): Registration[] {
    return [...this.confirmed].map((k) => this.desired.get(k) ?? keyToRegistration(k));
  }

  status(): SessionStatus {
    return {
      session: this.o.index,
      state: this.stateValue,
      registrations: this.confirmed.size,
      desired: this.desired.size,
      awaitingAnswers: this.inflight.size,
      connections: this.connections,
      appKeyInUse: this.appKeyInUse,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  start(): void {
    if (this.stateValue !== 'idle') return;
    void this.connect();
  }

  /** The registrations this session should hold; the difference is (un)subscribed when connected. */
  setDesired(registrations: readonly Registration[]): void {
    const next = new Map(registrations.map((r) => [regKey(r), r]));
    this.desired.clear();
    for (const [k, r] of next) this.desired.set(k, r);
    // A pending retry is about the old direction; what changed direction starts afresh.
    for (const k of [...this.retryAt.keys()]) if (next.has(k) === this.confirmed.has(k)) this.retryAt.delete(k);
    this.reconcile();
  }

  /** Flow control: stop reading frames while Kafka is behind (TCP pushes back on the server). */
  pause(): void {
    this.paused = true;
    if (this.ws && !this.ws.isPaused) this.ws.pause();
  }

  resume(): void {
    this.paused = false;
    if (this.ws?.isPaused) this.ws.resume();
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    this.o.metrics.sessionUp.set({ session: this.label }, 0);
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1_000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'shutdown');
    });
  }

  private clearTimers(): void {
    for (const t of [this.reconnectTimer, this.reconcileTimer]) if (t) clearTimeout(t);
    if (this.watchdog) clearInterval(this.watchdog);
    this.reconnectTimer = this.reconcileTimer = this.watchdog = null;
  }

  private get stopped(): boolean {
    return this.stateValue === 'stopped' || this.stateValue === 'failed';
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const maxAge = this.o.approvalMaxAgeMs ?? 20 * 3600_000;
    if (!this.approval || Date.now() - this.approval.obtainedAt > maxAge) {
      this.setState('authorizing');
      try {
        await this.renewApproval();
      } catch (err) {
        const appErr = toAppError(err);
        if (!appErr.retryable) return this.fail(appErr);
        this.noteError(appErr);
        this.log.warn({ err: appErr }, 'approval key request failed; retrying');
        return this.scheduleReconnect();
      }
      if (this.stopped) return;
    }
    this.setState('connecting');
    const ws = new WebSocket(this.o.wsUrl, { perMessageDeflate: false, handshakeTimeout: 10_000 });
    this.ws = ws;
    ws.on('open', () => this.onOpen(ws));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(ws, data, isBinary));
    ws.on('error', (err) => {
      if (ws === this.ws) this.log.warn({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'WebSocket error');
    });
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  private async renewApproval(): Promise<void> {
    const key = await requestApprovalKey(this.o.restUrl, this.o.credentials);
    this.approval = { key, generation: ++this.generation, obtainedAt: Date.now() };
  }

  private onOpen(ws: WebSocket): void {
    if (ws !== this.ws) return;
    if (this.paused) ws.pause();
    this.connections++;
    if (this.connections > 1) this.o.metrics.reconnects.inc({ session: this.label });
    this.openedAt = this.lastMessageAt = Date.now();
    this.confirmed.clear();
    this.inflight.clear();
    this.readyLogged = false;
    this.o.metrics.sessionUp.set({ session: this.label }, 1);
    this.updateGauge();
    this.setState('open');
    this.log.info({ connection: this.connections, registrations: this.desired.size }, this.connections > 1 ? 'reconnected; restoring registrations' : 'connected');
    const every = Math.max(20, Math.min(1_000, this.o.ackTimeoutMs / 4, this.o.idleTimeoutMs / 4));
    this.watchdog = setInterval(() => this.checkLiveness(ws), every);
    this.reconcile();
  }

  private onMessage(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (ws !== this.ws) return;
    const receivedMicros = nowMicros();
    this.lastMessageAt = Date.now();
    const text = data.toString('utf8');
    if (isBinary || !isJsonFrame(text)) {
      this.o.onData(text, receivedMicros, this);
      return;
    }
    let msg;
    try {
      msg = parseControl(text);
    } catch (err) {
      this.o.onUnreadable(text, receivedMicros, toAppError(err, 'DECODE_FAILED'));
      return;
    }
    if (msg.kind === 'pingpong') {
      // The text echo works with the official server and with python-kis alike (reference §3).
      ws.send(text);
      this.o.metrics.pingpongs.inc({ session: this.label });
      return;
    }
    this.o.metrics.control.inc({ msg_cd: msgLabel(msg.msgCd) });
    if (msg.cipher) this.ciphers.set(msg.trId, msg.cipher);
    this.onAnswer(msg.trId, msg.trKey, msg.rtCd, msg.msgCd, msg.msg1);
  }

  private onAnswer(trId: string, trKey: string | undefined, rtCd: string, msgCd: string, msg1: string): void {
    if (msgCd === MSG.appKeyInUse) return this.onAppKeyInUse();
    const key = trKey !== undefined ? `${trId}|${trKey}` : this.oldestRequestFor(trId);
    const queue = key === undefined ? undefined : this.inflight.get(key);
    const request = queue?.shift();
    if (key === undefined || !request) {
      this.log.debug({ trId, msgCd }, 'answer to no pending request');
      return;
    }
    if (queue && queue.length === 0) this.inflight.delete(key);
    const reg = this.desired.get(key) ?? keyToRegistration(key);

    // Clients check only the UNSUB prefix of OPSP0001 (reference §3).
    const unsubscribed = msgCd === MSG.unsubscribed || (rtCd === '0' && msg1.startsWith('UNSUB'));
    if (request.op === 'unsubscribe' && (unsubscribed || msgCd === MSG.notSubscribed)) {
      this.confirmed.delete(key);
      this.faults.delete(key);
    } else if (request.op === 'subscribe' && (msgCd === MSG.subscribed || msgCd === MSG.alreadySubscribed)) {
      // ALREADY IN SUBSCRIBE is harmless: the server holds the registration either way.
      this.confirmed.add(key);
      this.faults.delete(key);
      if (msgCd === MSG.subscribed && request.generation > this.rejectedGeneration) this.rejectedGeneration = -1;
    } else if (request.op === 'subscribe' && msgCd === MSG.maxSubscribeOver) {
      this.log.warn({ trId, trKey: reg.trKey, held: this.confirmed.size }, 'MAX SUBSCRIBE OVER: the server allows fewer registrations than configured; re-planning');
      this.o.onCapacityExceeded(this, this.confirmed.size, reg);
    } else if (msgCd === MSG.invalidApproval) {
      this.onApprovalRejected(request.generation);
    } else {
      // OPSP0007 internal error, or a code the reference does not list: a server fault, retried later.
      const n = (this.faults.get(key) ?? 0) + 1;
      this.faults.set(key, n);
      const delay = backoffDelay(n - 1, FAULT_RETRY, this.o.random);
      this.retryAt.set(key, Date.now() + delay);
      this.noteError(new AppError('INTERNAL', `${request.op} ${trId} ${reg.trKey} answered ${msgCd} ${msg1}`));
      this.log.warn({ trId, trKey: reg.trKey, msgCd, msg1, retryInMs: delay }, 'server refused a request; retrying');
    }
    this.updateGauge();
    this.reconcile();
  }

  /**
   * OPSP0011: the approval key is unknown or expired. Renew it once and resend; if the server refuses
   * a key renewed for that very reason, the credentials cannot get a feed: stop with a clear error.
   */
  private onApprovalRejected(generation: number): void {
    if (this.renewing || generation <= this.rejectedGeneration || (this.approval && generation < this.approval.generation)) {
      return; // answered to a key already replaced; reconcile resends with the new one
    }
    if (this.rejectedGeneration >= 0) {
      return this.fail(new AppError('CONFIG_INVALID', `the server refused a freshly issued approval key (OPSP0011 invalid approval) for app key #${this.o.index}: check KIS_APP_KEYS/KIS_APP_SECRETS and KIS_ACCOUNT`));
    }
    this.rejectedGeneration = generation;
    this.renewing = true;
    this.log.warn('approval key refused (OPSP0011 invalid approval); requesting a new one');
    this.renewApproval().then(
      () => {
        this.renewing = false;
        this.reconcile();
      },
      (err: unknown) => {
        this.renewing = false;
        const appErr = toAppError(err);
        if (!appErr.retryable) return this.fail(appErr);
        this.noteError(appErr);
        this.log.warn({ err: appErr }, 'approval renewal failed; reconnecting');
        this.ws?.terminate();
      },
    );
  }

  private onAppKeyInUse(): void {
    if (!this.appKeyInUse) {
      const err = new AppError('CONFIG_INVALID', `app key #${this.o.index} already has a WebSocket session elsewhere (OPSP8996 ALREADY IN USE appkey): KIS allows one session per app key; retrying with backoff`);
      this.noteError(err);
      this.log.error({ err }, 'app key already in use');
    }
    this.appKeyInUse = true;
    this.o.onStateChange?.(this);
    this.ws?.close(1000, 'app key in use');
  }

  private checkLiveness(ws: WebSocket): void {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (this.paused) {
      // Not reading (Kafka is behind): silence is ours, not the server's.
      this.lastMessageAt = now;
      for (const queue of this.inflight.values()) for (const r of queue) r.at = now;
      return;
    }
    if (now - this.lastMessageAt > this.o.idleTimeoutMs) {
      this.log.warn({ idleMs: now - this.lastMessageAt }, 'nothing received (not even PINGPONG); replacing the connection');
      ws.terminate();
      return;
    }
    for (const [key, queue] of this.inflight) {
      const first = queue[0];
      if (first && now - first.at > this.o.ackTimeoutMs) {
        this.log.warn({ registration: key, op: first.op, waitedMs: now - first.at }, 'no answer to a request; replacing the connection');
        ws.terminate();
        return;
      }
    }
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = null;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    this.confirmed.clear();
    this.inflight.clear();
    this.o.metrics.sessionUp.set({ session: this.label }, 0);
    this.updateGauge();
    if (this.stopped) return;
    this.log.warn({ code, reason: reason.slice(0, 200), livedMs: this.openedAt ? Date.now() - this.openedAt : 0 }, 'connection closed');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    if (this.openedAt > 0 && Date.now() - this.openedAt >= this.o.stableMs && !this.appKeyInUse) this.attempt = 0;
    this.openedAt = 0;
    const delay = backoffDelay(this.attempt++, this.o.backoff, this.o.random);
    this.setState('waiting');
    this.log.info({ delayMs: delay, attempt: this.attempt }, 'reconnecting after backoff');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }

  /** Sends what brings the server in line with `desired`: unsubscribes first, so a full session has room. */
  private reconcile(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.stateValue !== 'open' || this.renewing || !this.approval) return;
    const now = Date.now();
    let nextRetry = Infinity;
    /** Whether a request for `key` may go now: not in flight, and not waiting for a retry. */
    const due = (key: string): boolean => {
      if (this.inflight.has(key)) return false;
      const at = this.retryAt.get(key) ?? 0;
      if (at > now) {
        nextRetry = Math.min(nextRetry, at);
        return false;
      }
      this.retryAt.delete(key);
      return true;
    };
    for (const key of this.confirmed) if (!this.desired.has(key) && due(key)) this.send(ws, 'unsubscribe', key, keyToRegistration(key));
    for (const [key, reg] of this.desired) if (!this.confirmed.has(key) && due(key)) this.send(ws, 'subscribe', key, reg);
    if (nextRetry < Infinity && !this.reconcileTimer) {
      this.reconcileTimer = setTimeout(() => {
        this.reconcileTimer = null;
        this.reconcile();
      }, nextRetry - now);
    }
    if (!this.readyLogged && this.desired.size > 0 && this.inflight.size === 0 && [...this.desired.keys()].every((k) => this.confirmed.has(k))) {
      this.readyLogged = true;
      this.appKeyInUse = false;
      this.log.info({ registrations: this.confirmed.size, connection: this.connections }, 'all registrations acknowledged');
      this.o.onStateChange?.(this);
    }
  }

  private send(ws: WebSocket, op: Request['op'], key: string, reg: Registration): void {
    const approval = this.approval as { key: string; generation: number };
    const queue = this.inflight.get(key) ?? [];
    queue.push({ op, at: Date.now(), generation: approval.generation });
    this.inflight.set(key, queue);
    ws.send(requestFrame(approval.key, this.o.custType, op, reg.trId, reg.trKey));
  }

  private oldestRequestFor(trId: string): string | undefined {
    let best: string | undefined;
    let bestAt = Infinity;
    for (const [key, queue] of this.inflight) {
      const first = queue[0];
      if (first && key.startsWith(`${trId}|`) && first.at < bestAt) {
        best = key;
        bestAt = first.at;
      }
    }
    return best;
  }

  private updateGauge(): void {
    this.o.metrics.registrations.set({ session: this.label }, this.confirmed.size);
  }

  private noteError(err: AppError): void {
    this.lastError = { code: err.code, message: err.message, at: new Date().toISOString() };
  }

  private fail(err: AppError): void {
    this.noteError(err);
    this.log.error({ err }, 'session stopped: it cannot get a feed with these credentials');
    this.setState('failed');
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    this.confirmed.clear();
    this.inflight.clear();
    this.updateGauge();
    this.o.metrics.sessionUp.set({ session: this.label }, 0);
    ws?.terminate();
  }
}

function keyToRegistration(key: string): Registration {
  const i = key.indexOf('|');
  return { trId: key.slice(0, i), trKey: key.slice(i + 1) };
}
