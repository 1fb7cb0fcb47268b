/**
 * Work that follows commits but need not be inside them: asked for after each commit, run at most
 * once at a time, `delayMs` after the first ask (so the asks of many commits share one run), and
 * once more if asked again while running. A failed run is tried again after a back-off that doubles
 * up to `maxBackoffMs`; the work itself must be safe to repeat (its to-do list lives in the
 * database, not here). Domain-free: it knows only that `run` does some units of work.
 */
export interface DeferredWorkOptions {
  delayMs: number;
  maxBackoffMs: number;
  /** Does the work; resolves with how many units it did (0: nothing was due). */
  run(): Promise<number>;
  onDone?(units: number, seconds: number): void;
  onError?(err: unknown, failures: number, retryInMs: number): void;
}

export class DeferredWork {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private failures = 0;
  private closed = false;

  constructor(private readonly opts: DeferredWorkOptions) {}

  /** A run is scheduled (a first try or a retry) or in progress. */
  get busy(): boolean {
    return this.timer !== null || this.running !== null;
  }

  /** Something was committed that this work must follow: run within `delayMs`. */
  request(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer === null) this.schedule(this.opts.delayMs);
  }

  /** Stops scheduling and waits for a run in progress (its transaction commits or rolls back). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.runOnce().finally(() => {
        this.running = null;
      });
    }, ms);
    this.timer.unref();
  }

  private async runOnce(): Promise<void> {
    this.again = false;
    const started = performance.now();
    try {
      const units = await this.opts.run();
      this.failures = 0;
      this.opts.onDone?.(units, (performance.now() - started) / 1000);
      if (this.again && !this.closed) this.schedule(this.opts.delayMs);
    } catch (err) {
      this.failures++;
      const retryInMs = Math.min(this.opts.maxBackoffMs, this.opts.delayMs + 250 * 2 ** Math.min(this.failures, 10));
      this.opts.onError?.(err, this.failures, retryInMs);
      if (!this.closed) this.schedule(retryInMs);
    }
  }
}
