import type { Consumer } from 'kafkajs';
import type { Logger } from './logger.js';

/**
 * Whether a consumer still hears from Kafka. A member in a group talks to a broker at least every
 * heartbeat interval and every fetch wait, so no answer for `staleMs` means the cluster is away
 * (kafkajs keeps retrying on its own; this only tells /health and the operator). One warning when
 * it goes, one line when it is back: not an error per retry.
 */
export class KafkaLiveness {
  private lastAnswerAt = Date.now();
  private away = false;
  private outagesSeen = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly removeListener: () => void;

  /** `onBack` hears how long Kafka was silent, once per outage, when it answers again. */
  constructor(consumer: Consumer, private readonly opts: { staleMs: number; logger: Logger; maxOutageMs: number; onBack?: (silentMs: number) => void }) {
    this.removeListener = consumer.on(consumer.events.REQUEST, () => {
      const now = Date.now();
      const silentMs = now - this.lastAnswerAt;
      this.lastAnswerAt = now;
      if (this.away) {
        this.away = false;
        this.opts.logger.warn({ silentMs }, 'Kafka answers again; resuming from the committed offsets');
        this.opts.onBack?.(silentMs);
      }
    });
    this.timer = setInterval(() => this.check(), Math.min(1000, opts.staleMs)).unref();
  }

  get reachable(): boolean {
    this.check();
    return !this.away;
  }

  /** When the consumer last heard from Kafka (epoch ms). */
  get lastAnswer(): number {
    return this.lastAnswerAt;
  }

  /** Outages noticed so far, the current one included: a change across an await means one began or ended meanwhile. */
  get outages(): number {
    this.check();
    return this.outagesSeen;
  }

  close(): void {
    clearInterval(this.timer);
    this.removeListener();
  }

  private check(): void {
    const silentMs = Date.now() - this.lastAnswerAt;
    if (this.away || silentMs < this.opts.staleMs) return;
    this.away = true;
    this.outagesSeen++;
    this.opts.logger.warn({ silentMs, maxOutageMs: this.opts.maxOutageMs }, 'Kafka has not answered; waiting for it (health reports 503)');
  }
}
