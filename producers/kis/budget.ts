/**
 * A sliding-window allowance: at most `limit` events in any `windowMs`. KIS blocks an app key or an IP
 * for a while after repeated connect/close or subscribe loops (notice of 2026-02-24, reference §3), so
 * connects and subscribe requests take from such budgets — one per app key and one shared by the whole
 * process — and wait when a budget is spent instead of going over it.
 */
export class WindowBudget {
  private readonly times: number[] = [];

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Milliseconds until one more event fits (0: now). */
  waitMs(now: number): number {
    this.expire(now);
    if (this.times.length < this.limit) return 0;
    return (this.times[this.times.length - this.limit] as number) + this.windowMs - now;
  }

  /** Records an event; callers check `waitMs` first (a spent budget throws: that is a bug). */
  take(now: number): void {
    if (this.waitMs(now) > 0) throw new Error(`budget of ${this.limit} per ${this.windowMs} ms exceeded`);
    this.times.push(now);
  }

  /** Events in the current window. */
  used(now: number): number {
    this.expire(now);
    return this.times.length;
  }

  private expire(now: number): void {
    let drop = 0;
    while (drop < this.times.length && (this.times[drop] as number) <= now - this.windowMs) drop++;
    if (drop > 0) this.times.splice(0, drop);
  }
}

/** How long until every budget allows one more event. */
export function budgetsWaitMs(budgets: readonly WindowBudget[], now: number): number {
  return Math.max(0, ...budgets.map((b) => b.waitMs(now)));
}
