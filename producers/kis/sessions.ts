import type { AppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Credentials } from './approval.js';
import type { BackoffPolicy } from './backoff.js';
import { WindowBudget } from './budget.js';
import type { KisMetrics } from './metrics.js';
import { regKey, SessionPlanner, wantedRegistrations, type Plan, type Registration } from './planner.js';
import { KisSession, type SessionStatus } from './session.js';

export interface KisSessionsOptions {
  credentials: readonly Credentials[];
  restUrl: string;
  wsUrl: string;
  trs: readonly string[];
  custType: string;
  maxRegistrations: number;
  backoff: BackoffPolicy;
  slotHoldMs: number;
  stableMs: number;
  ackTimeoutMs: number;
  idleTimeoutMs: number;
  requestIntervalMs: number;
  budgets: BudgetLimits;
  pausedBacklogBytes: number;
  logger: Logger;
  metrics: KisMetrics;
  onData(text: string, receivedMicros: number, session: KisSession): void;
  onUnreadable(frame: string | Buffer, receivedMicros: number, err: AppError, session: number): void;
  random?: () => number;
}

/** Connects and subscribe requests allowed in any `windowMs`, per app key and for the whole process. */
export interface BudgetLimits {
  windowMs: number;
  connectsPerKey: number;
  connectsPerProcess: number;
  subscribesPerKey: number;
  subscribesPerProcess: number;
}

export interface KisHealth {
  healthy: boolean;
  details: {
    symbols: number;
    sessions: SessionStatus[];
    unplaced: { count: number; registrations: string[] };
  };
}

const UNPLACED_SHOWN = 100;

/**
 * All sessions of the producer (one per app key) and the plan that spreads symbols × TRs over them.
 * A symbol-list change or a MAX SUBSCRIBE OVER re-plans; each session then (un)subscribes the difference.
 */
export class KisSessions {
  private readonly sessions: KisSession[];
  private readonly planner: SessionPlanner;
  private readonly log: Logger;
  private symbols: string[] = [];
  private unplaced: Registration[] = [];
  /** Kafka back-pressure holds the sessions' frames (set by pause(), cleared by resume()). */
  private pressure = false;
  private resumeFrom = 0;

  constructor(private readonly o: KisSessionsOptions) {
    this.log = o.logger.child({ component: 'kis-sessions' });
    this.planner = new SessionPlanner(o.credentials.length, o.maxRegistrations);
    const b = o.budgets;
    const processConnects = new WindowBudget(b.connectsPerProcess, b.windowMs);
    const processSubscribes = new WindowBudget(b.subscribesPerProcess, b.windowMs);
    this.sessions = o.credentials.map((credentials, index) => new KisSession({
      index,
      credentials,
      restUrl: o.restUrl,
      wsUrl: o.wsUrl,
      custType: o.custType,
      backoff: o.backoff,
      slotHoldMs: o.slotHoldMs,
      stableMs: o.stableMs,
      ackTimeoutMs: o.ackTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      requestIntervalMs: o.requestIntervalMs,
      budgets: {
        connects: [new WindowBudget(b.connectsPerKey, b.windowMs), processConnects],
        subscribes: [new WindowBudget(b.subscribesPerKey, b.windowMs), processSubscribes],
      },
      pausedBacklogBytes: o.pausedBacklogBytes,
      logger: o.logger,
      metrics: o.metrics,
      onData: o.onData,
      onUnreadable: (text, micros, err) => o.onUnreadable(text, micros, err, index),
      onCapacityExceeded: (session, held, refused) => this.apply(this.planner.lowerCapacity(session.index, held, refused)),
      ...(o.random ? { random: o.random } : {}),
    }));
  }

  get all(): readonly KisSession[] {
    return this.sessions;
  }

  start(symbols: readonly string[]): void {
    this.setSymbols(symbols);
    for (const s of this.sessions) s.start();
  }

  setSymbols(symbols: readonly string[]): void {
    this.symbols = [...symbols];
    this.apply(this.planner.plan(wantedRegistrations(this.symbols, this.o.trs)));
  }

  pause(): void {
    this.pressure = true;
    for (const s of this.sessions) s.pause();
  }

  /**
   * Each session hands over the frames it held while paused as it resumes; once that fills the output
   * again (pause() called meanwhile), the others stay paused. The first to resume rotates, so no
   * session's backlog waits behind the others' every time.
   */
  resume(): void {
    this.pressure = false;
    const n = this.sessions.length;
    const first = this.resumeFrom++ % n;
    for (let k = 0; k < n && !this.pressure; k++) this.sessions[(first + k) % n]?.resume();
  }

  async stop(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.stop()));
  }

  unplacedRegistrations(): Registration[] {
    return [...this.unplaced];
  }

  health(): KisHealth {
    const sessions = this.sessions.map((s) => s.status());
    return {
      // A session between reconnects is normal; one that gave up or whose key is taken is not.
      healthy: sessions.every((s) => s.state !== 'failed' && !s.appKeyInUse),
      details: {
        symbols: this.symbols.length,
        sessions,
        unplaced: { count: this.unplaced.length, registrations: this.unplaced.slice(0, UNPLACED_SHOWN).map(regKey) },
      },
    };
  }

  private apply(plan: Plan): void {
    plan.sessions.forEach((regs, i) => this.sessions[i]?.setDesired(regs));
    const before = new Set(this.unplaced.map(regKey));
    const after = plan.unplaced.map(regKey);
    this.unplaced = plan.unplaced;
    this.o.metrics.unplaced.set(plan.unplaced.length);
    if (after.length === before.size && after.every((k) => before.has(k))) return;
    if (after.length === 0) {
      this.log.info('every wanted registration has a session again');
      return;
    }
    const capacities = this.sessions.map((s) => this.planner.capacity(s.index));
    this.log.warn(
      { unplaced: after.length, sample: after.slice(0, 20), sessions: this.sessions.length, capacities },
      `${after.length} registration(s) fit in no session (${this.sessions.length} app key(s)); add app keys or remove symbols`,
    );
  }
}
