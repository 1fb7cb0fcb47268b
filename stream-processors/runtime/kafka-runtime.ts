import os from 'node:os';
import { defineConfig } from '../../lib/config.js';
import { toAppError } from '../../lib/errors.js';
import { asOutputRefused, consumerConfigSpec, kafkaConfigSpec, kafkaErrorType } from '../../lib/kafka.js';
import { DeadLetterQueue } from '../../lib/dlq.js';
import type { Logger } from '../../lib/logger.js';
import { Counter, Gauge, Histogram, type Registry } from '../../lib/metrics.js';
import type { Lifecycle } from '../../lib/service.js';
import type { HealthCheck } from '../../lib/metrics.js';
import type { TopicCatalogue } from '../../lib/topics.js';
import { ProcessorFailure, type Metrics, type SessionLike, type StreamAppOptions } from './options.js';
import { Session } from './session.js';

export { ProcessorFailure, type InputSpec, type Metrics, type OutputSpec, type SessionLike, type StreamAppOptions } from './options.js';

const RETRY_DELAYS_MS = [1000, 2000, 4000, 5000];

/**
 * Runs one application: a consumer group on the input topic, one PartitionTask per assigned
 * partition, and every commit as one Kafka transaction of outputs, changelog records and input
 * offsets (with checkpoints in the offset metadata). A session is one set of Kafka clients; when
 * Kafka fails under it, the session is dropped with all in-memory state and a new one restores
 * from what was committed — the process keeps running and /health says 503 meanwhile.
 */
export class StreamApp<In, Out> {
  private session: SessionLike | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private readonly metrics: Metrics;

  constructor(
    private readonly options: StreamAppOptions<In, Out>,
    private readonly newSession: (options: StreamAppOptions<In, Out>, metrics: Metrics) => SessionLike = (o, m) => new Session(o, m),
  ) {
    const p = options.metricPrefix;
    const r = [options.metrics];
    this.metrics = {
      recordsIn: new Counter({ name: `${p}_${options.recordNoun}_in_total`, help: `${options.recordNoun} consumed`, registers: r }),
      late: new Counter({ name: `${p}_late_${options.recordNoun}_total`, help: `${options.recordNoun} later than the grace period, routed to the late topic`, registers: r }),
      transaction: new Histogram({ name: `${p}_transaction_seconds`, help: 'time to commit one transaction (outputs + changelogs + offsets)', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: r }),
      restore: new Histogram({ name: `${p}_restore_seconds`, help: 'time to restore the stores of newly assigned partitions', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r }),
      // A session replaced in a second or two is invisible to a scrape of the gauge below; this is not.
      sessionFailures: new Counter({ name: `${p}_session_failures_total`, help: 'Kafka sessions that ended or failed to start on a Kafka error; each is replaced by one that resumes from the last commit', registers: r }),
      connected: new Gauge({ name: `${p}_kafka_session_up`, help: '1 while a Kafka session is running, 0 while Kafka is unreachable', registers: r }),
    };
  }

  /** Resolves once the first session runs; later sessions replace failed ones in the background. */
  start(): Promise<void> {
    return new Promise<void>((resolve) => {
      void this.supervise(resolve);
    });
  }

  health(): { healthy: boolean; details: Record<string, unknown> } {
    const s = this.session;
    const up = s !== null && s.running && s.reachable !== false;
    return { healthy: !this.stopping && up, details: { kafka: up ? 'up' : 'unreachable', partitions: s ? s.assignedPartitions() : [] } };
  }

  /** Graceful: commits what was processed, then leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.session?.close(true);
  }

  private async supervise(started: () => void): Promise<void> {
    const { logger } = this.options;
    let outageSince = 0;
    /** The Kafka error that paused processing; null when Kafka did not answer at all. */
    let pausedBy: string | null = null;
    let attempt = 0;
    while (!this.stopping) {
      const session = this.newSession(this.options, this.metrics);
      this.session = session;
      let err: unknown;
      try {
        await session.start();
        this.metrics.connected.set(1);
        if (outageSince > 0) logger.info({ downForMs: Date.now() - outageSince }, `${pausedBy ? 'new Kafka session running' : 'Kafka reachable again'}: processing resumed from the last commit`);
        outageSince = 0;
        attempt = 0;
        started();
        err = await session.ended;
      } catch (e) {
        err = e;
      }
      this.metrics.connected.set(0);
      if (this.stopping) return;
      await session.close(false);
      if (err instanceof ProcessorFailure) {
        this.options.fail(err);
        return;
      }
      // A refused output would be refused again after every reconnect: the service would look like it
      // waits for Kafka while it never moves again. Stopping says so, and names the refusal.
      const refused = asOutputRefused(err);
      if (refused) {
        this.options.fail(refused);
        return;
      }
      this.metrics.sessionFailures.inc();
      if (outageSince === 0) {
        outageSince = Date.now();
        // Named, because the two call for different looks: an answer (say CONCURRENT_TRANSACTIONS, or a
        // fenced producer) points at the client or at another instance, no answer at the broker or network.
        pausedBy = kafkaErrorType(err);
        const paused = 'processing paused; retrying, and resuming from the last commit';
        if (pausedBy) logger.warn({ err: toAppError(err, 'KAFKA_REQUEST_REFUSED'), kafkaError: pausedBy }, `Kafka answered ${pausedBy}: ${paused}`);
        else logger.warn({ err: toAppError(err, 'KAFKA_UNAVAILABLE') }, `Kafka unreachable: ${paused}`);
      } else {
        logger.debug({ err }, 'the new Kafka session failed too');
      }
      const delays = this.options.retryDelaysMs ?? RETRY_DELAYS_MS;
      const delay = delays[Math.min(attempt++, delays.length - 1)] as number;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}

type StreamAppSettings = Pick<StreamAppOptions<unknown, unknown>, 'applicationId' | 'instanceId' | 'brokers' | 'clientId' | 'sessionTimeoutMs' | 'transactionTimeoutMs' | 'commitIntervalMs' | 'catchUpCommitIntervalMs' | 'idleMs' | 'maxOutageMs' | 'placement'>;

/** The runtime settings of a service's config (see streamAppConfigSpec), for one application. */
export function streamAppSettings(
  c: { instanceId?: string | undefined; brokers: readonly string[]; clientId?: string | undefined; sessionTimeoutMs: number; transactionTimeoutMs: number; commitIntervalMs: number; catchUpCommitIntervalMs: number; idleMs: number; maxOutageMs: number; replicationFactor: number; minInsyncReplicas: number },
  applicationId: string,
  defaultClientId: string,
): StreamAppSettings {
  return {
    applicationId,
    instanceId: c.instanceId ?? os.hostname(),
    brokers: c.brokers,
    clientId: c.clientId ?? defaultClientId,
    sessionTimeoutMs: c.sessionTimeoutMs,
    transactionTimeoutMs: c.transactionTimeoutMs,
    commitIntervalMs: c.commitIntervalMs,
    catchUpCommitIntervalMs: c.catchUpCommitIntervalMs,
    idleMs: c.idleMs,
    maxOutageMs: c.maxOutageMs,
    placement: { replicationFactor: c.replicationFactor, minInsyncReplicas: c.minInsyncReplicas },
  };
}

/** Settings every processor service shares (its application id and domain settings are its own). */
export const streamAppConfigSpec = defineConfig({
  ...kafkaConfigSpec,
  ...consumerConfigSpec,
  instanceId: { env: 'INSTANCE_ID', type: 'optional-string', doc: 'stable id of this instance, part of its transactional id (default: the host name; set it when several instances share a host)' },
  transactionTimeoutMs: { env: 'TRANSACTION_TIMEOUT_MS', type: 'int', default: 10_000, min: 1000, doc: 'how long the broker keeps an abandoned transaction open (it blocks read_committed readers)' },
  commitIntervalMs: { env: 'COMMIT_INTERVAL_MS', type: 'int', default: 100, min: 10, doc: 'how often outputs, changelogs and offsets are committed in one transaction (and, live, right after a wall-clock punctuation emits: in-progress candles do not wait for the interval)' },
  catchUpCommitIntervalMs: { env: 'CATCHUP_COMMIT_INTERVAL_MS', type: 'int', default: 1000, min: 10, doc: 'how often they are committed while the input is far behind its log end (a catch-up or replay: nobody waits for those outputs, and each transaction costs several broker round trips)' },
  // 30 s, not 1 s: a producer that stalls (a broker outage or failover: leaders move, retries back
  // off, a process restarts) sends its held records afterwards with their old event times; a stream
  // time that followed the wall clock meanwhile had closed their windows, and they came out late —
  // whole candles missing (found by the broker-outage and failover tests). During trading a
  // partition is never idle, so only the last windows of a quiet market close this much later.
  idleMs: { env: 'PARTITION_IDLE_MS', type: 'int', default: 30_000, min: 50, doc: 'after this long without input, a partition\'s stream time follows the wall clock (a producer stalled longer than this, then sending, has its held records late); time while Kafka does not answer does not count' },
});

/** The dead-letter topic of a processor stage and the queue that counts, logs and builds its records. */
export function deadLettersFor(topics: TopicCatalogue, stage: string, metrics: Registry, logger: Logger): StreamAppOptions<unknown, unknown>['deadLetters'] {
  const topic = topics.dlq(stage);
  return { topic, queue: new DeadLetterQueue(topic.name, stage, metrics, logger) };
}

/** Starts apps one after the other (they may create the same topics), with /health and a graceful stop for all. */
export async function startStreamApps(
  apps: ReadonlyArray<Pick<StreamApp<unknown, unknown>, 'start' | 'stop' | 'health'>>,
  service: { setHealth(check: HealthCheck): void; lifecycle: Lifecycle },
): Promise<void> {
  service.setHealth(() => {
    const all = apps.map((a) => a.health());
    return { healthy: all.every((h) => h.healthy), details: all.length === 1 ? all[0]?.details : { apps: all.map((h) => h.details) } };
  });
  service.lifecycle.onShutdown('stream-apps', async () => {
    await Promise.all(apps.map((a) => a.stop()));
  });
  for (const app of apps) await app.start();
}
