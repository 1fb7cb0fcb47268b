/** What `EndSignal.race` returns when the end came first. */
export const ENDED = Symbol('ended');

/**
 * The end of something long-lived (a session) that short-lived waits (one per fetched batch) race
 * against. Racing a long-lived pending promise itself leaks: each `then` or `Promise.race` on it adds
 * a reaction that lives as long as the promise stays pending, about 460 bytes per wait (measured);
 * at tens of batches a second for a whole session, hundreds of MB over a trading day. Here each
 * wait has a promise of its own, dropped when the wait is over.
 */
export class EndSignal {
  private ended = false;
  private readonly waiters = new Set<() => void>();

  /** The first call ends it; later calls change nothing. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const release of this.waiters) release();
    this.waiters.clear();
  }

  /** Waits for `work`, or for the end if it comes first (ENDED; the work goes on by itself). */
  async race<R>(work: Promise<R>): Promise<R | typeof ENDED> {
    if (this.ended) return ENDED;
    let release!: () => void;
    const end = new Promise<typeof ENDED>((resolve) => (release = () => resolve(ENDED)));
    this.waiters.add(release);
    try {
      return await Promise.race([end, work]);
    } finally {
      this.waiters.delete(release);
    }
  }

  /** Waits in progress: each holds its promise only until it is over. */
  get waiting(): number {
    return this.waiters.size;
  }
}
