import { isUtf8 } from 'node:buffer';
import WebSocket from 'ws';
import { AppError, toAppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { nowMicros } from '../../lib/time.js';
import { requestApprovalKey, type Credentials } from './approval.js';
import { backoffDelay, heldSlotDelay, type BackoffPolicy } from './backoff.js';
import { budgetsWaitMs, type WindowBudget } from './budget.js';
import { answerPolicy, MSG, parseControl, requestFrame } from './control.js';
import type { KisCipher } from './crypto.js';
import { isJsonFrame, parseError } from './frame.js';
import { msgLabel, type KisMetrics } from './metrics.js';
import { regKey, type Registration } from './planner.js';

export type SessionState = 'idle' | 'authorizing' | 'connecting' | 'open' | 'waiting' | 'failed' | 'stopped';

export interface SessionBudgets {
  /** Connects: this app key's own budget, then the one the whole process shares. */
  connects: readonly WindowBudget[];
  /** Subscribe requests, likewise. */
  subscribes: readonly WindowBudget[];
}

export interface SessionOptions {
  /** Position of the app key in KIS_APP_KEYS: how logs, metrics and /health name the session. */
  index: number;
  credentials: Credentials;
  restUrl: string;
  wsUrl: string;
  custType: string;
  /** Reconnects after a clean close (the server released the session): exponential from baseMs to maxMs. */
  backoff: BackoffPolicy;
  /**
   * First wait after an abnormal close or an answer saying the key's slot is still held; doubles per
   * failed attempt up to backoff.maxMs (see heldSlotDelay).
   */
  slotHoldMs: number;
  /** A connection that delivered market data for this long counts as healthy: the backoff starts over. */
  stableMs: number;
  /** No answer to a (un)subscribe request for this long: the connection is replaced. */
  ackTimeoutMs: number;
  /** Nothing at all received (KIS sends PINGPONG every few seconds) for this long: the connection is replaced. */
  idleTimeoutMs: number;
  /** Least time between two (un)subscribe requests (the official samples wait 50-500 ms). */
  requestIntervalMs: number;
  budgets: SessionBudgets;
  /** While paused, data frames up to this many bytes are held and reading goes on (PINGPONG stays answered). */
  pausedBacklogBytes: number;
  /** Approval keys are valid 24 h; a reconnect after this age asks for a new one first. */
  approvalMaxAgeMs?: number;
  logger: Logger;
  metrics: KisMetrics;
  onData(text: string, receivedMicros: number, session: KisSession): void;
  /** A frame that cannot be read at all: JSON that does not parse, or bytes that are not UTF-8. */
  onUnreadable(frame: string | Buffer, receivedMicros: number, err: AppError): void;
  /** The server refused a registration with MAX SUBSCRIBE OVER while holding `held`. */
  onCapacityExceeded(session: KisSession, held: number, refused: Registration): void;
  onStateChange?(session: KisSession): void;
  random?: () => number;
}

interface Request {
  op: 'subscribe' | 'unsubscribe';
  at: number;
  /** Send order on this connection: the server answers in it. */
  seq: number;
  /** Which approval key the request carried (a renewal increments it). */
  generation: number;
}

export interface SessionStatus {
  session: number;
  state: SessionState;
  registrations: number;
  desired: number;
  awaitingAnswers: number;
  /** Connections opened. */
  connections: number;
  /** Connects tried (each takes from the connect budgets). */
  connectAttempts: number;
  /** Failed reconnect attempts since the last healthy connection. */
  reconnectAttempt: number;
  /** The server says the key's session slot is taken (OPSP8996, or OPSP0011 right after a drop). */
  appKeyInUse: boolean;
  /** Registrations the server refused for good (bad tr_id or tr_key, refusals), with its answer. */
  refused: Array<{ registration: string; msgCd: string; msg1: string }>;
  lastError?: { code: string; message: string; at: string };
}

const FAULT_RETRY: BackoffPolicy = { baseMs: 1_000, maxMs: 30_000 };
/** An answer code the reference does not list is retried this many times, then the registration is given up. */
const UNKNOWN_CODE_TRIES = 3;
/** A slot still held at this many attempts (≈ 2.5 min with the defaults) is more than our own dropped session: tell a person. */
const HELD_ATTEMPTS_BEFORE_ERROR = 3;
/** Codes already reported once by any session of the process (unknown codes are logged once, not per answer). */
const reportedCodes = new Set<string>();

/**
 * One WebSocket session of one app key. It holds the registrations the planner gave it and keeps the
 * server in line with them: (re)subscribes after every (re)connect — so exactly the registrations held
 * before a drop are restored — and unsubscribes what is no longer wanted.
 *
 * Requests are matched to answers per registration in FIFO order (the server answers in order), and
 * a registration never has more than one request in flight, so a late answer is never taken for the
 * answer to a newer request. Requests go one at a time, `requestIntervalMs` apart.
 *
 * The server keeps a dropped session's slot for a while (reference §3): after an abnormal close the
 * session waits at least `slotHoldMs` before it tries again, and answers that mean "slot taken" make it
 * wait longer instead of failing. Connects and subscribes take from budgets that are never exceeded.
 */
export class KisSession {
  private stateValue: SessionState = 'idle';
  private readonly desired = new Map<string, Registration>();
  private readonly confirmed = new Set<string>();
  private readonly inflight = new Map<string, Request[]>();
  private readonly retryAt = new Map<string, number>();
  private readonly faults = new Map<string, number>();
  private readonly refused = new Map<string, { msgCd: string; msg1: string }>();
  private readonly ciphers = new Map<string, KisCipher>();
  private approval: { key: string; generation: number; obtainedAt: number } | null = null;
  private generation = 0;
  /** Approval generation at which the server last answered `invalid approval`; -1 if never. */
  private rejectedGeneration = -1;
  private renewing = false;
  /** Renew the approval key before the next connect (the old one was refused while the slot was held). */
  private renewBeforeConnect = false;
  private ws: WebSocket | null = null;
  private attempt = 0;
  private openedAt = 0;
  /** When the current connection delivered its first data frame (0: none yet). */
  private dataSince = 0;
  private lastMessageAt = 0;
  private lastRequestAt = 0;
  private requestSeq = 0;
  private connections = 0;
  private connectAttempts = 0;
  /** The server may still hold this key's slot: set by an abnormal close or a held-slot answer. */
  private slotMayBeHeld = false;
  /** The approval generation in use when the connection last dropped (older keys get OPSP0011 meanwhile). */
  private generationAtDrop = -1;
  private closingForSlot = false;
  private appKeyInUse = false;
  private budgetWaitLogged = false;
  private readyLogged = false;
  private paused = false;
  private socketPaused = false;
  private backlog: Array<{ frame: string | Buffer; micros: number }> = [];
  private backlogBytes = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private reconcileAt = Infinity;
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
      connectAttempts: this.connectAttempts,
      reconnectAttempt: this.attempt,
      appKeyInUse: this.appKeyInUse,
      refused: [...this.refused].map(([registration, a]) => ({ registration, ...a })),
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
    // A refusal is forgotten once the registration is no longer wanted (asking again later retries it).
    for (const k of [...this.refused.keys()]) if (!next.has(k)) this.refused.delete(k);
    this.updateGauge();
    this.reconcile();
  }

  /**
   * Flow control while Kafka is behind. Reading goes on, so PINGPONG is answered and the server keeps
   * the session; data frames are held (in order) up to `pausedBacklogBytes`, and only past that the
   * socket stops being read (TCP pushes back on the server).
   */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.drainBacklog();
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
    this.reconcileAt = Infinity;
  }

  private get stopped(): boolean {
    return this.stateValue === 'stopped' || this.stateValue === 'failed';
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const maxAge = this.o.approvalMaxAgeMs ?? 20 * 3600_000;
    if (!this.approval || this.renewBeforeConnect || Date.now() - this.approval.obtainedAt > maxAge) {
      this.setState('authorizing');
      try {
        if (this.renewBeforeConnect && this.approval) this.rejectedGeneration = this.approval.generation;
        await this.renewApproval();
        this.renewBeforeConnect = false;
      } catch (err) {
        const appErr = toAppError(err);
        if (!appErr.retryable) return this.fail(appErr);
        this.noteError(appErr);
        this.log.warn({ err: appErr }, 'approval key request failed; retrying');
        return this.scheduleReconnect();
      }
      if (this.stopped) return;
    }
    const now = Date.now();
    const wait = budgetsWaitMs(this.o.budgets.connects, now);
    if (wait > 0) {
      // Going over would risk the key or the IP being blocked for hours: wait for the budget instead.
      this.setState('waiting');
      if (!this.budgetWaitLogged) this.log.warn({ waitMs: wait }, 'connect budget spent; waiting for it before connecting');
      this.budgetWaitLogged = true;
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        void this.connect();
      }, wait);
      return;
    }
    this.budgetWaitLogged = false;
    for (const b of this.o.budgets.connects) b.take(now);
    this.connectAttempts++;
    this.o.metrics.connects.inc({ session: this.label });
    this.setState('connecting');
    // skipUTF8Validation: a text frame with bad UTF-8 would make ws close the session with 1007; it is
    // checked here instead and dead-lettered as bytes (see onMessage).
    const ws = new WebSocket(this.o.wsUrl, { perMessageDeflate: false, handshakeTimeout: 10_000, skipUTF8Validation: true });
    this.ws = ws;
    ws.on('open', () => this.onOpen(ws));
    ws.on('message', (data: Buffer) => this.onMessage(ws, data));
    ws.on('error', (err) => {
      if (ws !== this.ws) return;
      const code = (err as NodeJS.ErrnoException).code;
      this.noteError(new AppError('KIS_UPSTREAM_UNAVAILABLE', `WebSocket error: ${err.message}`, { retryable: true }));
      this.log.warn({ err: { message: err.message, code } }, 'WebSocket error');
    });
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  private async renewApproval(): Promise<void> {
    const key = await requestApprovalKey(this.o.restUrl, this.o.credentials);
    this.approval = { key, generation: ++this.generation, obtainedAt: Date.now() };
  }

  private onOpen(ws: WebSocket): void {
    if (ws !== this.ws) return;
    this.connections++;
    if (this.connections > 1) this.o.metrics.reconnects.inc({ session: this.label });
    this.openedAt = this.lastMessageAt = Date.now();
    this.dataSince = 0;
    this.lastRequestAt = 0;
    this.closingForSlot = false;
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

  private onMessage(ws: WebSocket, data: Buffer): void {
    if (ws !== this.ws) return;
    const receivedMicros = nowMicros();
    this.lastMessageAt = Date.now();
    // Text and binary frames alike: KIS sends text; what is not UTF-8 is kept as bytes for the DLQ.
    if (!isUtf8(data)) {
      this.deliver(Buffer.from(data), receivedMicros);
      return;
    }
    const text = data.toString('utf8');
    if (!isJsonFrame(text)) {
      if (this.dataSince === 0) this.dataSince = this.lastMessageAt;
      this.deliver(text, receivedMicros);
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
    if (msg.cipher && msg.trId !== undefined) this.ciphers.set(msg.trId, msg.cipher);
    this.onAnswer(msg.trId, msg.trKey, msg.rtCd, msg.msgCd, msg.msg1);
  }

  /** Data frames received while paused and not yet handed over. */
  get heldFrames(): number {
    return this.backlog.length;
  }

  /** A data frame (or unreadable bytes) to the processor now, or to the backlog while paused. */
  private deliver(frame: string | Buffer, micros: number): void {
    if (!this.paused && this.backlog.length === 0) return this.handOver(frame, micros);
    this.backlog.push({ frame, micros });
    this.backlogBytes += frame.length;
    if (this.backlogBytes > this.o.pausedBacklogBytes && this.ws && !this.socketPaused) {
      this.socketPaused = true;
      this.ws.pause();
      this.log.warn({ backlogBytes: this.backlogBytes }, 'Kafka is far behind: stopped reading the socket (PINGPONG may go unanswered)');
    }
  }

  private handOver(frame: string | Buffer, micros: number): void {
    if (typeof frame === 'string') this.o.onData(frame, micros, this);
    else this.o.onUnreadable(frame, micros, parseError('encoding', `frame of ${frame.length} bytes is not valid UTF-8`));
  }

  private drainBacklog(): void {
    while (!this.paused && this.backlog.length > 0) {
      const item = this.backlog.shift() as { frame: string | Buffer; micros: number };
      this.backlogBytes -= item.frame.length;
      this.handOver(item.frame, item.micros);
    }
    if (!this.paused && this.socketPaused) {
      this.socketPaused = false;
      this.ws?.resume();
    }
  }

  private onAnswer(trId: string | undefined, trKey: string | undefined, rtCd: string, msgCd: string, msg1: string): void {
    // "Slot taken" is about the session, not a request (KIS sends it with "tr_id":"(null)").
    if (msgCd === MSG.appKeyInUse) return this.onSlotHeld(msgCd, msg1);
    // An answer that names no request is the answer to the oldest one: the server answers in order.
    const key = trId === undefined ? this.oldestRequestFor(undefined) : trKey !== undefined ? `${trId}|${trKey}` : this.oldestRequestFor(trId);
    const queue = key === undefined ? undefined : this.inflight.get(key);
    const request = queue?.shift();
    if (key === undefined || !request) {
      if (msgCd === MSG.invalidApproval) {
        this.onApprovalAnswer(this.approval?.generation ?? 0, msgCd, msg1);
        return;
      }
      this.log.debug({ trId, msgCd }, 'answer to no pending request');
      return;
    }
    if (queue && queue.length === 0) this.inflight.delete(key);
    const reg = this.desired.get(key) ?? keyToRegistration(key);
    const policy = answerPolicy(msgCd, request.op, rtCd, msg1);
    switch (policy) {
      case 'done':
        if (request.op === 'unsubscribe') this.confirmed.delete(key);
        else {
          // ALREADY IN SUBSCRIBE is harmless: the server holds the registration either way.
          this.confirmed.add(key);
          this.slotMayBeHeld = false;
          if (request.generation > this.rejectedGeneration) this.rejectedGeneration = -1;
        }
        this.faults.delete(key);
        break;
      case 'capacity':
        this.log.warn({ trId: reg.trId, trKey: reg.trKey, held: this.confirmed.size }, 'MAX SUBSCRIBE OVER: the server allows fewer registrations than configured; re-planning');
        this.o.onCapacityExceeded(this, this.confirmed.size, reg);
        break;
      case 'approval':
        if (this.onApprovalAnswer(request.generation, msgCd, msg1)) return;
        break;
      case 'give-up':
        this.giveUp(key, request.op, msgCd, msg1);
        break;
      case 'retry':
        this.retryLater(key, request.op, reg, msgCd, msg1);
        break;
      case 'unknown': {
        const n = (this.faults.get(key) ?? 0) + 1;
        if (!reportedCodes.has(msgCd)) {
          reportedCodes.add(msgCd);
          this.log.warn({ msgCd, msg1, rtCd, trId: reg.trId, trKey: reg.trKey }, `answer code ${msgCd} is not in the KIS reference; retried ${UNKNOWN_CODE_TRIES} times per registration, then given up`);
        }
        if (n >= UNKNOWN_CODE_TRIES) this.giveUp(key, request.op, msgCd, msg1);
        else this.retryLater(key, request.op, reg, msgCd, msg1);
        break;
      }
    }
    this.updateGauge();
    this.reconcile();
  }

  private retryLater(key: string, op: Request['op'], reg: Registration, msgCd: string, msg1: string): void {
    const n = (this.faults.get(key) ?? 0) + 1;
    this.faults.set(key, n);
    const delay = backoffDelay(n - 1, FAULT_RETRY, this.o.random);
    this.retryAt.set(key, Date.now() + delay);
    this.noteError(new AppError('KIS_UPSTREAM_UNAVAILABLE', `${op} ${reg.trId} ${reg.trKey} answered ${msgCd} ${msg1}`, { retryable: true }));
    this.log.warn({ trId: reg.trId, trKey: reg.trKey, msgCd, msg1, retryInMs: delay }, 'server refused a request; retrying');
  }

  /** This registration cannot be had: report it and stop asking (until it is unwanted and wanted again). */
  private giveUp(key: string, op: Request['op'], msgCd: string, msg1: string): void {
    this.faults.delete(key);
    if (op === 'unsubscribe') {
      // Nothing more to try; data still arriving for it is harmless.
      this.confirmed.delete(key);
      this.log.warn({ registration: key, msgCd, msg1 }, 'unsubscribe refused; not retried');
      return;
    }
    this.refused.set(key, { msgCd, msg1 });
    this.log.error({ registration: key, msgCd, msg1 }, 'the server refused this registration for good (check KIS_SYMBOLS / KIS_TRS); not retried');
  }

  /**
   * The server holds this app key's one session slot: a session of ours it has not released after a
   * drop, or another process using the key. Close this connection cleanly and wait it out; never a
   * reason to give up.
   */
  private onSlotHeld(msgCd: string, msg1: string): void {
    if (this.closingForSlot) return;
    this.closingForSlot = true;
    this.slotMayBeHeld = true;
    const first = !this.appKeyInUse;
    this.appKeyInUse = true;
    const err = new AppError('KIS_SLOT_HELD', `app key #${this.o.index}: the server still holds its WebSocket session (${msgCd} ${msg1}): a dropped session not yet released, or another process using the key; waiting it out`, { retryable: true });
    this.noteError(err);
    if (first) this.log.warn({ err }, 'app key session slot held; backing off');
    else if (this.attempt === HELD_ATTEMPTS_BEFORE_ERROR) this.log.error({ err, attempts: this.attempt }, 'app key session slot still held after several minutes: is another process using this app key?');
    else this.log.info({ msgCd }, 'app key session slot still held');
    this.o.onStateChange?.(this);
    this.ws?.close(1000, 'slot held');
  }

  /** OPSP0011 for a request made with approval `generation`; true if it meant a held slot. */
  private onApprovalAnswer(generation: number, msgCd: string, msg1: string): boolean {
    if (this.slotMayBeHeld && generation <= this.generationAtDrop) {
      // Right after a drop the old key is refused while the server still holds its session.
      this.renewBeforeConnect = true;
      this.onSlotHeld(msgCd, msg1);
      return true;
    }
    this.onApprovalRejected(generation);
    return false;
  }

  /**
   * OPSP0011 outside a held slot: the approval key is unknown or expired. Renew it once and resend; if
   * the server refuses a key renewed for that very reason, the credentials cannot get a feed.
   */
  private onApprovalRejected(generation: number): void {
    if (this.renewing || generation <= this.rejectedGeneration || (this.approval && generation < this.approval.generation)) {
      if (this.rejectedGeneration >= 0 && generation > this.rejectedGeneration) return this.authRejected();
      return; // answered to a key already replaced; reconcile resends with the new one
    }
    if (this.rejectedGeneration >= 0) return this.authRejected();
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
        this.ws?.close(1000, 'approval renewal failed');
      },
    );
  }

  private authRejected(): void {
    this.fail(new AppError('KIS_AUTH_REJECTED', `the server refused a freshly issued approval key (OPSP0011 invalid approval) for app key #${this.o.index}: check KIS_APP_KEYS/KIS_APP_SECRETS and KIS_ACCOUNT`));
  }

  private checkLiveness(ws: WebSocket): void {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (this.socketPaused) {
      // Not reading (Kafka is far behind): silence is ours, not the server's.
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
    if (this.reconcileTimer) clearTimeout(this.reconcileTimer);
    this.reconcileTimer = null;
    this.reconcileAt = Infinity;
    this.confirmed.clear();
    this.inflight.clear();
    // Frames read before the close are still delivered, in order, once Kafka takes them.
    this.socketPaused = false;
    this.o.metrics.sessionUp.set({ session: this.label }, 0);
    this.updateGauge();
    if (this.stopped) return;
    const now = Date.now();
    // Only a connection that carried market data for a while proves the key works: one that merely
    // stayed open (acks, PINGPONG, or waiting for an answer that never came) does not reset the backoff.
    if (this.dataSince > 0 && now - this.dataSince >= this.o.stableMs && !this.closingForSlot) this.attempt = 0;
    // 1006: no close handshake (a network drop, or our own terminate): the server may keep the slot.
    if (code === 1006) {
      this.slotMayBeHeld = true;
      this.generationAtDrop = this.approval?.generation ?? -1;
    }
    this.log.warn({ code, reason: reason.slice(0, 200), livedMs: this.openedAt ? now - this.openedAt : 0, dataMs: this.dataSince ? now - this.dataSince : 0 }, 'connection closed');
    this.openedAt = this.dataSince = 0;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.slotMayBeHeld
      ? heldSlotDelay(this.attempt, this.o.slotHoldMs, this.o.backoff.maxMs, this.o.random)
      : backoffDelay(this.attempt, this.o.backoff, this.o.random);
    this.attempt++;
    this.setState('waiting');
    this.log.info({ delayMs: delay, attempt: this.attempt, slotMayBeHeld: this.slotMayBeHeld }, 'reconnecting after backoff');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }

  /**
   * Sends what brings the server in line with `desired`, unsubscribes first so a full session has
   * room; one request per `requestIntervalMs`, subscribes only within their budgets.
   */
  private reconcile(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.stateValue !== 'open' || this.renewing || this.closingForSlot || !this.approval) return;
    const now = Date.now();
    let wakeAt = Infinity;
    /** Whether a request for `key` may go now: not in flight, and not waiting for a retry. */
    const due = (key: string): boolean => {
      if (this.inflight.has(key)) return false;
      const at = this.retryAt.get(key) ?? 0;
      if (at > now) {
        wakeAt = Math.min(wakeAt, at);
        return false;
      }
      this.retryAt.delete(key);
      return true;
    };
    const todo: Array<[Request['op'], string, Registration]> = [];
    for (const key of this.confirmed) if (!this.desired.has(key) && due(key)) todo.push(['unsubscribe', key, keyToRegistration(key)]);
    for (const [key, reg] of this.desired) if (!this.confirmed.has(key) && !this.refused.has(key) && due(key)) todo.push(['subscribe', key, reg]);
    for (const [op, key, reg] of todo) {
      const paceAt = this.lastRequestAt + this.o.requestIntervalMs;
      if (this.lastRequestAt > 0 && paceAt > now) {
        wakeAt = Math.min(wakeAt, paceAt);
        break;
      }
      if (op === 'subscribe') {
        const wait = budgetsWaitMs(this.o.budgets.subscribes, now);
        if (wait > 0) {
          if (!this.budgetWaitLogged) this.log.warn({ waitMs: wait }, 'subscribe budget spent; waiting for it');
          this.budgetWaitLogged = true;
          wakeAt = Math.min(wakeAt, now + wait);
          break;
        }
        for (const b of this.o.budgets.subscribes) b.take(now);
      }
      this.send(ws, op, key, reg);
      this.lastRequestAt = now;
    }
    if (wakeAt < Infinity) this.wakeAt(wakeAt);
    if (!this.readyLogged && this.desired.size > 0 && this.inflight.size === 0 && [...this.desired.keys()].every((k) => this.confirmed.has(k) || this.refused.has(k))) {
      this.readyLogged = true;
      this.budgetWaitLogged = false;
      this.appKeyInUse = false;
      this.log.info({ registrations: this.confirmed.size, refused: this.refused.size, connection: this.connections }, 'all registrations acknowledged');
      this.o.onStateChange?.(this);
    }
  }

  private wakeAt(at: number): void {
    if (this.reconcileTimer && this.reconcileAt <= at) return;
    if (this.reconcileTimer) clearTimeout(this.reconcileTimer);
    this.reconcileAt = at;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = null;
      this.reconcileAt = Infinity;
      this.reconcile();
    }, Math.max(0, at - Date.now()));
  }

  private send(ws: WebSocket, op: Request['op'], key: string, reg: Registration): void {
    const approval = this.approval as { key: string; generation: number };
    const queue = this.inflight.get(key) ?? [];
    queue.push({ op, at: Date.now(), seq: ++this.requestSeq, generation: approval.generation });
    this.inflight.set(key, queue);
    ws.send(requestFrame(approval.key, this.o.custType, op, reg.trId, reg.trKey));
  }

  /** The registration whose request (of `trId`, or of any TR) has waited longest. */
  private oldestRequestFor(trId: string | undefined): string | undefined {
    let best: string | undefined;
    let bestSeq = Infinity;
    for (const [key, queue] of this.inflight) {
      const first = queue[0];
      if (first && (trId === undefined || key.startsWith(`${trId}|`)) && first.seq < bestSeq) {
        best = key;
        bestSeq = first.seq;
      }
    }
    return best;
  }

  private updateGauge(): void {
    this.o.metrics.registrations.set({ session: this.label }, this.confirmed.size);
    this.o.metrics.refused.set({ session: this.label }, this.refused.size);
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
    // A close handshake, so the server frees the slot at once (a terminate would leave it held).
    if (ws?.readyState === WebSocket.OPEN) ws.close(1000, 'giving up');
    else ws?.terminate();
  }
}

function keyToRegistration(key: string): Registration {
  const i = key.indexOf('|');
  return { trId: key.slice(0, i), trKey: key.slice(i + 1) };
}
