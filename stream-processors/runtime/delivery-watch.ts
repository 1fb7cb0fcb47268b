/**
 * Whether the consumer still delivers the records that wait for it. A consumer can keep talking to
 * the brokers and still deliver nothing: in the three-broker failover test, after a broker died,
 * kafkajs answered a request every 10 s for minutes while no batch came, with thousands of records
 * in the log. So the evidence is the log itself: a partition whose log end was beyond our position
 * `stallMs` ago, with the position not moved since, is stuck.
 *
 * The position is the next offset the consumer has handed over, transaction markers and aborted
 * records included (kafkajs ends those batches without delivering them), so a log whose end is a
 * marker is not taken for waiting records once the marker was fetched.
 */
export class DeliveryWatch {
  private readonly positions = new Map<number, number>();
  /** Partition → the position and since when the log end was seen beyond it. */
  private readonly waiting = new Map<number, { position: number; since: number; logEnd: number }>();

  /** The consumer handed over records up to `nextOffset` (exclusive). */
  delivered(partition: number, nextOffset: number): void {
    if (nextOffset > (this.positions.get(partition) ?? -1)) this.positions.set(partition, nextOffset);
  }

  /** Where the consumer stands on a partition: what it handed over, or `floor` (a checkpoint, the log start) if further. */
  position(partition: number, floor: number): number {
    return Math.max(this.positions.get(partition) ?? -1, floor);
  }

  /** A partition left this session: what was known of it goes. */
  forget(partition: number): void {
    this.positions.delete(partition);
    this.waiting.delete(partition);
  }

  /** The log end of a partition read at `now`, against the consumer's position at that moment. */
  observe(partition: number, position: number, logEnd: number, now: number): void {
    if (logEnd <= position) {
      this.waiting.delete(partition);
      return;
    }
    const seen = this.waiting.get(partition);
    if (!seen || seen.position !== position) this.waiting.set(partition, { position, since: now, logEnd });
  }

  /** The first partition whose records have waited `stallMs` (counted from `notBefore` at the earliest) with no delivery, or null. */
  stalled(now: number, stallMs: number, notBefore = 0): { partition: number; position: number; logEnd: number; waitedMs: number } | null {
    for (const [partition, w] of this.waiting) {
      if (this.position(partition, -1) > w.position) continue; // delivered since: the next observation renews it
      const waitedMs = now - Math.max(w.since, notBefore);
      if (waitedMs >= stallMs) return { partition, position: w.position, logEnd: w.logEnd, waitedMs };
    }
    return null;
  }
}
