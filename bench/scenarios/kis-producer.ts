/**
 * KIS producer throughput and reconnect latency, one producer process against the fake KIS server
 * running in a process of its own (so generating the market does not take the producer's core).
 *
 * 1. Throughput: the fake pre-generates a burst of the simulated market (not timed) for 120 symbols
 *    spread over 3 app keys, as frames of 100 trade records, and pushes it as fast as the sockets drain.
 *    Measured: trade records parsed, Avro-encoded and acknowledged by Kafka per second (with the raw
 *    frames to raw.kis.v1 alongside), from the producer's own counters; three bursts, the median
 *    reported, each with the share of CPU the hypervisor took meanwhile (steal). Then one burst of
 *    single-record frames, KIS's usual frame outside the open and the close.
 * 2. Reconnect: with the live market running, the fake cuts one session; measured is the time from the
 *    cut to the first trade of that session's symbols received on the new connection (its ingestTime),
 *    read back from Kafka. Five cuts, 2 s apart; median and worst reported. Default producer settings
 *    (first retry after 125-250 ms) except KIS_STABLE_MS=1000, so each cut starts the backoff afresh.
 * KIS_PRODUCER_THREADS in the bench's environment picks the producer's Kafka threads (default: the producer's).
 * On a shared 2-core VM that also runs Kafka the figures move a lot from run to run: mostly with the
 * steal, which has been seen between a few percent and half of the CPU.
 */
import avro from 'avsc';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Consumer } from 'kafkajs';
import { kisConfigSpec } from '../../producers/kis/config.js';
import { generateListings } from '../../producers/simulator/listings.js';
import { TickSchema } from '../../schemas/generated/schemas.js';
import type { Tick } from '../../schemas/generated/types.js';
import { testKafka } from '../../test/helpers/kafka.js';
import { startService, type RunningService } from '../../test/helpers/service-process.js';
import { freshNamespace, stackEnv } from '../../test/helpers/stack.js';
import { waitFor } from '../../test/helpers/wait.js';
import { cpuTimes, stealShare, type BenchFigure, type BenchScenario, type CpuTimes } from '../harness.js';
import { metricAt } from '../../test/helpers/metrics.js';

const ACCOUNTS = [1, 2, 3].map((i) => ({ appKey: `PSbench${i}AppKey0000000000000000000`, appSecret: `bench-secret-${i}` }));
const UNIVERSE = 120;
const TICKS_PER_SECOND = 5_000; // density of the simulated market (live rate during the reconnect part)
const BURST_SECONDS = 80; // of simulated market: ≈ 400k trades
const BURSTS = 3;
const SINGLE_BURST_SECONDS = 40; // ≈ 200k trades, in single-record frames
/** KIS batches records into one frame mostly around the open and the close; KIS_BENCH_RECORDS_PER_FRAME tries others (a last burst always uses single-record frames). */
const RECORDS_PER_FRAME = Number(process.env['KIS_BENCH_RECORDS_PER_FRAME'] ?? 100);
const DROPS = 5;
const PRODUCER_THREADS = Number(process.env['KIS_PRODUCER_THREADS'] ?? kisConfigSpec.producerThreads.default);

interface FakeState {
  connections: Array<{ id: number; appKey?: string; open: boolean; registrations: Array<{ trId: string; trKey: string }> }>;
  burst: { trades: number; frames: number; generatedMs: number; sentFrames: number; done: boolean } | null;
}


const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

export const scenario: BenchScenario = {
  name: 'kis-producer',
  description: `KIS producer: trades parsed, encoded and produced per second (fake KIS in its own process, ${RECORDS_PER_FRAME} records per frame, then single-record frames, 3 sessions); drop-to-first-tick after a reconnect`,
  needsStack: true,
  async run(): Promise<BenchFigure[]> {
    const ns = freshNamespace('benchkis');
    const services: RunningService[] = [];
    let consumer: Consumer | undefined;
    try {
      const fake = startService('test/fakes/kis/main.js', {
        FAKE_KIS_REST_PORT: '0',
        FAKE_KIS_WS_PORT: '0',
        FAKE_KIS_ACCOUNTS: ACCOUNTS.map((a) => `${a.appKey}:${a.appSecret}`).join(','),
        FAKE_KIS_UNIVERSE: String(UNIVERSE),
        FAKE_KIS_TICKS_PER_SECOND: String(TICKS_PER_SECOND),
        FAKE_KIS_MARKET_RUNNING: 'false',
        FAKE_KIS_RECORDS_PER_FRAME: '10',
        // Under a burst the producer pauses its reads while Kafka catches up (back-pressure), which
        // delays its PINGPONG replies: heartbeats far apart keep that from closing sessions mid-burst.
        FAKE_KIS_PING_MS: '30000',
      });
      services.push(fake);
      const line = await fake.waitForLog(/\{"fakeKis":"listening".*\}/);
      const { restUrl, wsUrl, controlUrl } = JSON.parse(line) as { restUrl: string; wsUrl: string; controlUrl: string };
      const control = async <T>(command: string, body?: unknown): Promise<T> => {
        const res = await fetch(`${controlUrl}/${command}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (!res.ok) throw new Error(`fake ${command}: HTTP ${res.status} ${await res.text()}`);
        return (await res.json()) as T;
      };

      const env = stackEnv();
      // The fake's universe: generateListings with its default seed.
      const symbols = generateListings(UNIVERSE, 42).map((l) => l.symbol);
      const producer = startService('producers/kis/main.js', {
        KAFKA_BROKERS: env.KAFKA_BROKERS,
        SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL,
        TOPIC_NAMESPACE: ns.topicNamespace,
        TOPIC_PARTITIONS: '6',
        KIS_APP_KEYS: ACCOUNTS.map((a) => a.appKey).join(','),
        KIS_APP_SECRETS: ACCOUNTS.map((a) => a.appSecret).join(','),
        KIS_REST_URL: restUrl,
        KIS_WS_URL: wsUrl,
        KIS_SYMBOLS: symbols.join(','),
        KIS_TRS: 'H0STCNT0',
        KIS_PRODUCER_THREADS: String(PRODUCER_THREADS),
        // A spool of its own: one left by a killed run would be replayed into that run's topics.
        KIS_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'bench-kis-spool-')),
        LOG_LEVEL: 'info',
        // Drops come 2 s apart here; a connection that lived 1 s counts as healthy, so every drop is
        // measured from the first step of the backoff, as a drop after a long healthy session would be.
        KIS_STABLE_MS: '1000',
      });
      services.push(producer);
      const port = await producer.metricsPort();
      const ticksTopic = `${ns.topicNamespace}market.ticks.v1`;
      await waitFor('every registration', async () => {
        const s = await control<FakeState>('state');
        return s.connections.filter((c) => c.open).reduce((n, c) => n + c.registrations.length, 0) === UNIVERSE ? s : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });

      // ---- 1. throughput: BURSTS bursts, the median reported ----
      const cpuBefore = await metricAt(port, 'process_cpu_seconds_total');
      const bursts: Array<{ rate: number; whole: number; steal: number; trades: number }> = [];
      let produced = 0;
      let maxPending = 0;
      let cpuMicrosPerTick = NaN;
      // BURSTS bursts of batched frames, then one of single-record frames (KIS's usual frame).
      for (let b = 0; b <= BURSTS; b++) {
        const single = b === BURSTS;
        const burst = await control<{ trades: number; frames: number; generatedMs: number }>('burst', { seconds: single ? SINGLE_BURST_SECONDS : BURST_SECONDS, recordsPerFrame: single ? 1 : RECORDS_PER_FRAME });
        const target = produced + burst.trades;
        // Polled every 250 ms (each scrape costs the producer CPU), the rate is the slope between the
        // polls around 10% and 90% of the burst, interpolated: start-up and the tail do not count.
        const samples: Array<{ at: number; produced: number; cpu: CpuTimes }> = [];
        await waitFor('the burst produced', async () => {
          const count = await metricAt(port, 'kis_messages_produced_total', { topic: ticksTopic });
          samples.push({ at: performance.now(), produced: count - produced, cpu: cpuTimes() });
          maxPending = Math.max(maxPending, await metricAt(port, 'kis_pending_messages'));
          return count >= target ? true : undefined;
        }, { timeoutMs: 120_000, intervalMs: 250 });
        const indexAt = (count: number) => samples.findIndex((x) => x.produced >= count);
        const timeAt = (count: number): number => {
          const i = indexAt(count);
          const after = samples[i] as (typeof samples)[number];
          const before = samples[i - 1] ?? after;
          if (after.produced === before.produced) return after.at;
          return before.at + ((count - before.produced) / (after.produced - before.produced)) * (after.at - before.at);
        };
        const from = burst.trades * 0.1;
        const to = burst.trades * 0.9;
        const seconds = (timeAt(to) - timeAt(from)) / 1000;
        const whole = ((samples.at(-1) as { at: number }).at - timeAt(1)) / 1000;
        const first = samples[Math.max(0, indexAt(from) - 1)] as (typeof samples)[number];
        const last = samples[indexAt(to)] as (typeof samples)[number];
        bursts.push({ rate: (to - from) / seconds, whole: burst.trades / whole, steal: stealShare(first.cpu, last.cpu), trades: burst.trades });
        produced = target;
        if (b === BURSTS - 1) cpuMicrosPerTick = ((await metricAt(port, 'process_cpu_seconds_total')) - cpuBefore) * 1e6 / produced;
      }
      const parseErrors = await metricAt(port, 'kis_parse_errors_total');
      const singles = bursts.pop() as (typeof bursts)[number];
      const middle = [...bursts].sort((a, b) => a.rate - b.rate)[Math.floor(BURSTS / 2)] as (typeof bursts)[number];
      const ticksPerSecond = middle.rate;
      const framesPerSecond = ticksPerSecond / RECORDS_PER_FRAME;
      const pct = (x: number) => `${Math.round(x * 100)}%`;
      const burstNotes = bursts.map((b) => `${Math.round(b.rate)} (whole burst ${Math.round(b.whole)}, ${pct(b.steal)} steal)`).join('; ');

      // ---- 2. reconnect: drop → first tick of the new connection ----
      const decoder = avro.Type.forSchema(TickSchema);
      const seen: Array<{ symbol: string; ingest: number }> = [];
      consumer = testKafka().consumer({ groupId: `bench-kis-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topic: ticksTopic, fromBeginning: false });
      await consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const t = decoder.fromBuffer((m.value as Buffer).subarray(5)) as Tick;
            seen.push({ symbol: t.symbol, ingest: t.ingestTime });
          }
        },
      });
      await control('market', { running: true });
      await waitFor('live ticks seen', () => (seen.length > 1_000 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
      const appKey = (ACCOUNTS[0] as { appKey: string }).appKey;
      const delays: number[] = [];
      for (let i = 0; i < DROPS; i++) {
        const state = await control<FakeState>('state');
        const mine = new Set(state.connections.find((c) => c.open && c.appKey === appKey)?.registrations.map((r) => r.trKey));
        // Pause so nothing of the old connection is still in flight, cut, and resume at once.
        await control('market', { running: false });
        await new Promise((r) => setTimeout(r, 300));
        const { droppedAt } = await control<{ droppedAt: number }>('drop', { appKey });
        await control('market', { running: true });
        const firstAfter = await waitFor('a tick of the new connection', () => {
          const t = seen.find((s) => s.ingest > droppedAt * 1000 && mine.has(s.symbol));
          return t?.ingest;
        }, { timeoutMs: 30_000, intervalMs: 20 });
        delays.push(firstAfter / 1000 - droppedAt);
        await new Promise((r) => setTimeout(r, 2_000));
      }

      return [
        { name: 'KIS producer throughput (trades parsed, encoded, acknowledged by Kafka)', value: Math.round(ticksPerSecond), unit: 'ticks/s', target: 50_000, higherIsBetter: true, notes: `median of ${BURSTS} bursts of ${middle.trades} trades, each the rate over its middle 80%, ticks/s: ${burstNotes}. Over 3 sessions, raw frames to raw.kis.v1 alongside; ${parseErrors} parse errors; up to ${maxPending} messages waiting for Kafka (reads pause at 50,000)` },
        { name: 'KIS producer frames', value: Math.round(framesPerSecond), unit: 'frames/s', notes: `${RECORDS_PER_FRAME} records per frame` },
        { name: 'KIS producer throughput with single-record frames (one raw message per trade as well)', value: Math.round(singles.rate), unit: 'ticks/s', notes: `one burst of ${singles.trades} trades in single-record frames, the rate over its middle 80% (whole burst ${Math.round(singles.whole)}), ${pct(singles.steal)} steal. KIS batches records mostly around the open and the close` },
        { name: 'KIS producer CPU per trade (all threads: WebSocket, parse, Avro, kafkajs, GC)', value: Math.round(cpuMicrosPerTick), unit: 'µs', higherIsBetter: false, notes: `over the batched bursts; ${PRODUCER_THREADS} Kafka producer thread(s) (KIS_PRODUCER_THREADS)` },
        { name: 'KIS reconnect: connection dropped → first tick of the new connection (median)', value: Math.round(median(delays)), unit: 'ms', higherIsBetter: false, notes: `${DROPS} drops: ${delays.map((d) => Math.round(d)).join(', ')} ms; default backoff (first retry after 125-250 ms), ${TICKS_PER_SECOND} trades/s live` },
        { name: 'KIS reconnect: dropped → first tick (worst)', value: Math.round(Math.max(...delays)), unit: 'ms', higherIsBetter: false },
      ];
    } finally {
      await consumer?.disconnect().catch(() => undefined);
      for (const s of services.reverse()) await s.stop();
    }
  },
};
