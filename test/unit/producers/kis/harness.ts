import type { Message } from 'kafkajs';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { DeadLetterQueue } from '../../../../lib/dlq.js';
import { createLogger, type Logger } from '../../../../lib/logger.js';
import type { OrderBook, Tick } from '../../../../schemas/generated/types.js';
import { FrameProcessor } from '../../../../producers/kis/frame-processor.js';
import { createKisMetrics, type KisMetrics } from '../../../../producers/kis/metrics.js';
import type { MessageSink } from '../../../../producers/kis/output.js';
import { KisSessions, type KisSessionsOptions } from '../../../../producers/kis/sessions.js';
import { FakeKisServer, type FakeKisOptions } from '../../../fakes/kis/server.js';

export const TOPICS = { ticks: 'ticks', orderbook: 'orderbook', raw: 'raw', dlq: 'dlq' } as const;

/** Records what the producer would send to Kafka; values are JSON instead of Avro so tests read them. */
export class CapturingSink implements MessageSink {
  readonly messages: Array<{ topic: string; message: Message }> = [];
  frames = 0;

  push(topic: string, message: Message): void {
    this.messages.push({ topic, message });
  }

  frameDone(): void {
    this.frames++;
  }

  values<T>(topic: string): T[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(String(m.message.value)) as T);
  }

  texts(topic: string): string[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => String(m.message.value));
  }

  ticks(): Tick[] {
    return this.values<Tick>(TOPICS.ticks);
  }

  books(): OrderBook[] {
    return this.values<OrderBook>(TOPICS.orderbook);
  }
}

export interface ProducerHarness {
  fake: FakeKisServer;
  sessions: KisSessions;
  sink: CapturingSink;
  metrics: KisMetrics;
  registry: Registry;
  logger: Logger;
  /** Everything logged so far, at debug level. */
  logs(): string;
  stop(): Promise<void>;
}

export const ACCOUNTS = [
  { appKey: 'PSAPPKEY0000000000000000000000000001', appSecret: 'SECRET/one+0000000000000000000000000000000000000000000000000000000000000000001=' },
  { appKey: 'PSAPPKEY0000000000000000000000000002', appSecret: 'SECRET/two+0000000000000000000000000000000000000000000000000000000000000000002=' },
  { appKey: 'PSAPPKEY0000000000000000000000000003', appSecret: 'SECRET/three+000000000000000000000000000000000000000000000000000000000000000003=' },
];

/**
 * The producer's sessions and frame processor, in process, against an in-process fake KIS server, with
 * a capturing sink instead of Kafka and a logger whose output the test can read.
 */
export async function startHarness(options: {
  fake?: Partial<FakeKisOptions>;
  fakeServer?: FakeKisServer;
  accounts?: Array<{ appKey: string; appSecret: string }>;
  symbols: readonly string[];
  trs?: readonly string[];
  session?: Partial<Omit<KisSessionsOptions, 'onData' | 'onUnreadable' | 'logger' | 'metrics'>>;
  /** Shifts receipt times, as if the producer's clock read the fake market's (see marketClockOffsetMs). */
  clockOffsetMs?: number;
}): Promise<ProducerHarness> {
  const accounts = options.accounts ?? ACCOUNTS;
  const fake = options.fakeServer ?? await FakeKisServer.start({ accounts: ACCOUNTS, pingIntervalMs: 100, pongTimeoutMs: 2_000, ...options.fake });
  let out = '';
  const logger = createLogger('kis-test', { level: 'debug', destination: new Writable({ write(chunk, _e, cb) { out += String(chunk); cb(); } }) });
  const registry = new Registry();
  const metrics = createKisMetrics(registry);
  const sink = new CapturingSink();
  const processor = new FrameProcessor({
    sink,
    topics: TOPICS,
    encodeTick: (t) => Buffer.from(JSON.stringify(t)),
    encodeBook: (b) => Buffer.from(JSON.stringify(b)),
    dlq: new DeadLetterQueue(TOPICS.dlq, 'kis-producer', registry, logger),
    metrics,
  });
  const shift = (options.clockOffsetMs ?? 0) * 1000;
  const sessions = new KisSessions({
    credentials: accounts,
    restUrl: fake.restUrl,
    wsUrl: fake.wsUrl,
    trs: options.trs ?? ['H0STCNT0'],
    custType: 'P',
    maxRegistrations: 41,
    backoff: { baseMs: 20, maxMs: 200 },
    slotHoldMs: 20,
    stableMs: 5_000,
    ackTimeoutMs: 5_000,
    idleTimeoutMs: 5_000,
    requestIntervalMs: 0,
    budgets: { windowMs: 60_000, connectsPerKey: 1_000, connectsPerProcess: 1_000, subscribesPerKey: 10_000, subscribesPerProcess: 10_000 },
    pausedBacklogBytes: 64 * 1024 * 1024,
    ...options.session,
    logger,
    metrics,
    onData: (text, micros, session) => processor.handle(text, micros + shift, (trId) => session.cipherFor(trId), session.index),
    onUnreadable: (text, micros, err, session) => processor.unreadable(text, micros + shift, err, session),
  });
  sessions.start(options.symbols);
  return {
    fake,
    sessions,
    sink,
    metrics,
    registry,
    logger,
    logs: () => out,
    async stop() {
      await sessions.stop();
      if (!options.fakeServer) await fake.close();
    },
  };
}

/** `tr_id|tr_key` strings of what the harness's session `i` holds, as the producer sees it. */
export function held(h: ProducerHarness, i: number): string[] {
  return (h.sessions.all[i]?.registrations() ?? []).map((r) => `${r.trId}|${r.trKey}`).sort();
}
