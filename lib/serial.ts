/**
 * Runs async sections one at a time, in call order. Used where a Kafka batch handler and a timer
 * (punctuation, flush) touch the same state and must not interleave across their awaits.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
