/**
 * Runs async sections one at a time, in call order. Used where a Kafka batch handler and a timer
 * (punctuation, flush) touch the same state and must not interleave across their awaits.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private started: number | null = null;

  /** When the section now running began (epoch ms), or null when none runs: a watchdog's input. */
  get busySince(): number | null {
    return this.started;
  }

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(async () => {
      this.started = Date.now();
      try {
        return await fn();
      } finally {
        this.started = null;
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }
}
