/** One KIS registration: a TR id for one key (the stock code). A session holds a bounded number. */
export interface Registration {
  trId: string;
  trKey: string;
}

export function regKey(r: Registration): string {
  return `${r.trId}|${r.trKey}`;
}

/** Every TR wanted for every symbol, symbol by symbol. */
export function wantedRegistrations(symbols: readonly string[], trIds: readonly string[]): Registration[] {
  const out: Registration[] = [];
  const seen = new Set<string>();
  for (const trKey of symbols) {
    if (seen.has(trKey)) continue;
    seen.add(trKey);
    for (const trId of trIds) out.push({ trId, trKey });
  }
  return out;
}

export interface Plan {
  /** Registrations per session index, in the order they were wanted. */
  sessions: Registration[][];
  /** What fits nowhere: reported (log, metric, /health), never silently dropped. */
  unplaced: Registration[];
}

/**
 * Spreads registrations over the sessions (one per app key) without exceeding each session's limit,
 * counted across TR ids as KIS counts them. Re-planning is stable: a registration stays in its session
 * while it is wanted, so adding or removing symbols only touches the registrations that changed. A new
 * registration joins its stock's other TRs when that session has room (one drop then interrupts all of
 * a stock's feeds together, not half of them), else the session with the most room, which also
 * balances the first plan.
 */
export class SessionPlanner {
  private readonly assignment = new Map<string, number>();
  private readonly capacities: number[];
  private wanted: Registration[] = [];

  constructor(sessionCount: number, capacity: number) {
    if (sessionCount < 1) throw new Error('the planner needs at least one session');
    this.capacities = Array.from({ length: sessionCount }, () => capacity);
  }

  capacity(session: number): number {
    return this.capacities[session] ?? 0;
  }

  /**
   * The server refused `refused` with MAX SUBSCRIBE OVER while `session` held `held` registrations: it
   * allows fewer than configured. Remember the real limit and move the refused registration elsewhere.
   */
  lowerCapacity(session: number, held: number, refused: Registration): Plan {
    const current = this.capacities[session];
    if (current !== undefined) this.capacities[session] = Math.max(0, Math.min(current, held));
    if (this.assignment.get(regKey(refused)) === session) this.assignment.delete(regKey(refused));
    return this.plan(this.wanted);
  }

  plan(wanted: readonly Registration[]): Plan {
    this.wanted = [...wanted];
    const wantedKeys = new Set(wanted.map(regKey));
    for (const key of [...this.assignment.keys()]) if (!wantedKeys.has(key)) this.assignment.delete(key);

    const load = this.capacities.map(() => 0);
    const sessions: Registration[][] = this.capacities.map(() => []);
    // Keep what is placed, in wanted order, up to each session's (possibly lowered) limit.
    for (const r of wanted) {
      const s = this.assignment.get(regKey(r));
      if (s === undefined) continue;
      if ((load[s] as number) < (this.capacities[s] as number)) {
        load[s] = (load[s] as number) + 1;
        (sessions[s] as Registration[]).push(r);
      } else {
        this.assignment.delete(regKey(r));
      }
    }
    // Where each stock already is: its other TRs join it there while that session has room.
    const home = new Map<string, number>();
    for (const r of wanted) {
      const s = this.assignment.get(regKey(r));
      if (s !== undefined && !home.has(r.trKey)) home.set(r.trKey, s);
    }
    const unplaced: Registration[] = [];
    for (const r of wanted) {
      const key = regKey(r);
      if (this.assignment.has(key)) continue;
      let best = -1;
      let bestFree = 0;
      const h = home.get(r.trKey);
      if (h !== undefined && (load[h] as number) < (this.capacities[h] as number)) {
        best = h;
      } else {
        for (let s = 0; s < this.capacities.length; s++) {
          const free = (this.capacities[s] as number) - (load[s] as number);
          if (free > bestFree) {
            best = s;
            bestFree = free;
          }
        }
      }
      if (best >= 0 && !home.has(r.trKey)) home.set(r.trKey, best);
      if (best < 0) {
        unplaced.push(r);
        continue;
      }
      this.assignment.set(key, best);
      load[best] = (load[best] as number) + 1;
      (sessions[best] as Registration[]).push(r);
    }
    // Back into wanted order within each session, so the plan reads the same however it was reached.
    const order = new Map(wanted.map((r, i) => [regKey(r), i]));
    for (const list of sessions) list.sort((a, b) => (order.get(regKey(a)) as number) - (order.get(regKey(b)) as number));
    return { sessions, unplaced };
  }
}
