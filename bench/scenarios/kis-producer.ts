/**
 * KIS producer throughput and reconnect latency, one producer process against the fake KIS server
 * running in a process of its own (so generating the market does not take the producer's core).
 *
 * 1. Throughput: the fake pre-generates a burst of the simulated market (not timed) for 120 symbols
 *    spread over 3 app keys, as frames of 100 trade records, and pushes it as fast as the sockets drain.
 *    Measured: trade records parsed, Avro-encoded and acknowledged by Kafka per second (with the raw
 *    frames to raw.kis.v1 alongside), from the producer's own counters; three bursts of records in the
 *    current 47-field layout (venue and market session read), the median reported, each with the share
 *    of CPU the hypervisor took meanwhile (steal). The peer: three bursts in the old 46-field layout,
 *    interleaved with them (A B B A A B) in the same run; their ratio is the cost of the new fields, whatever the
 *    load of the machine. Then one burst of single-record frames, KIS's usual frame outside the open
 *    and the close.
 * 2. Reconnect while the server holds the dropped session: with the live market running, the fake cuts
 *    all three sessions at once and, like KIS, keeps each dropped session's slot for 30 s (OPSP0011 to
 *    the old approval key, OPSP8996 to new ones meanwhile) and locks out a key that claims more than 5
 *    sessions in 10 minutes. Measured per session: the time from the cut to the first trade of its
 *    symbols received on the new connection (its ingestTime, read back from Kafka), and the connects
 *    it made meanwhile (kis_connects_total). Default producer settings (first retry after 20-30 s,
 *    doubling; at most 8 connects per key in 10 minutes).
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
const SLOT_HOLD_MS = 30_000;
const LOCKOUT_CONNECTS = 5;
const PRODUCER_THREADS = Number(process.env['KIS_PRODUCER_THREADS'] ?? kisConfigSpec.producerThreads.default);

interface FakeState {
  connections: Array<{ id: number; appKey?: string; open: boolean; registrations: Array<{ trId: string; trKey: string }> }>;
  burst: { trades: number; frames: number; generatedMs: number; sentFrames: number; done: boolean } | null;
  lockouts: unknown[];
}


const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

export const scenario: BenchScenario = {
  name: 'kis-producer',
  description: `KIS producer: trades parsed, encoded and produced per second (fake KIS in its own process, 47-field records, ${RECORDS_PER_FRAME} records per frame, then single-record frames, 3 sessions); drop-to-first-tick and connects when the server holds the dropped slot 30 s`,
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
        FAKE_KIS_SLOT_HOLD_MS: String(SLOT_HOLD_MS),
        FAKE_KIS_LOCKOUT_CONNECTS: String(LOCKOUT_CONNECTS),
        FAKE_KIS_LOCKOUT_WINDOW_MS: '600000',
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
      const bursts: Array<{ rate: number; whole: number; steal: number; trades: number; layout2026: boolean }> = [];
      let produced = 0;
      let maxPending = 0;
      let cpuMicrosPerTick = NaN;
      // 2 × BURSTS bursts of batched frames, the current and the old layout in turn, then one of
      // single-record frames (KIS's usual frame) in the current layout.
      for (let b = 0; b <= 2 * BURSTS; b++) {
        const single = b === 2 * BURSTS;
        // A B B A A B: each layout goes first as often as second (a burst runs faster or slower after another).
        const layout2026 = single || [true, false, false, true, true, false][b % 6] === true;
        await control('layout2026', { on: layout2026 });
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
        bursts.push({ rate: (to - from) / seconds, whole: burst.trades / whole, steal: stealShare(first.cpu, last.cpu), trades: burst.trades, layout2026 });
        produced = target;
        if (b === 2 * BURSTS - 1) cpuMicrosPerTick = ((await metricAt(port, 'process_cpu_seconds_total')) - cpuBefore) * 1e6 / produced;
      }
      const parseErrors = await metricAt(port, 'kis_parse_errors_total');
      const singles = bursts.pop() as (typeof bursts)[number];
      const medianOf = (list: typeof bursts) => [...list].sort((a, b) => a.rate - b.rate)[Math.floor(list.length / 2)] as (typeof bursts)[number];
      const current = bursts.filter((b) => b.layout2026);
      const old = bursts.filter((b) => !b.layout2026);
      const middle = medianOf(current);
      const peer = medianOf(old);
      const ticksPerSecond = middle.rate;
      const framesPerSecond = ticksPerSecond / RECORDS_PER_FRAME;
      const pct = (x: number) => `${Math.round(x * 100)}%`;
      const notesOf = (list: typeof bursts) => list.map((b) => `${Math.round(b.rate)} (whole burst ${Math.round(b.whole)}, ${pct(b.steal)} steal)`).join('; ');
      const burstNotes = notesOf(current);
      const load = (await import('node:os')).loadavg()[0] as number;

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
      const state = await control<FakeState>('state');
      const mine = ACCOUNTS.map((a) => new Set(state.connections.find((c) => c.open && c.appKey === a.appKey)?.registrations.map((r) => r.trKey)));
      const connectsBefore = await Promise.all(ACCOUNTS.map((_, i) => metricAt(port, 'kis_connects_total', { session: String(i) })));
      // Pause so nothing of the old connections is still in flight, cut all three, and resume at once.
      await control('market', { running: false });
      await new Promise((r) => setTimeout(r, 300));
      const drops = await Promise.all(ACCOUNTS.map((a) => control<{ droppedAt: number }>('drop', { appKey: a.appKey })));
      await control('market', { running: true });
      const delays = await Promise.all(ACCOUNTS.map((_, i) => waitFor(`a tick of session ${i}'s new connection`, () => {
        const droppedAt = (drops[i] as { droppedAt: number }).droppedAt;
        const t = seen.find((s) => s.ingest > droppedAt * 1000 && mine[i]?.has(s.symbol));
        return t ? t.ingest / 1000 - droppedAt : undefined;
      }, { timeoutMs: 300_000, intervalMs: 100 })));
      const connects = await Promise.all(ACCOUNTS.map(async (_, i) => (await metricAt(port, 'kis_connects_total', { session: String(i) })) - (connectsBefore[i] as number)));
      const lockouts = (await control<FakeState>('state')).lockouts.length;

      return [
        { name: 'KIS producer throughput (trades parsed, encoded, acknowledged by Kafka)', value: Math.round(ticksPerSecond), unit: 'ticks/s', target: 50_000, higherIsBetter: true, notes: `47-field records (venue, market session); median of ${BURSTS} bursts of ${middle.trades} trades, each the rate over its middle 80%, ticks/s: ${burstNotes}. Over 3 sessions, raw frames to raw.kis.v1 alongside; ${parseErrors} parse errors; up to ${maxPending} messages waiting for Kafka (reads pause at 50,000); 1-minute load average at the end ${load.toFixed(1)} on 2 cores` },
        { name: 'KIS producer throughput, 47-field records ÷ 46-field records (same run, interleaved bursts)', value: Math.round((middle.rate / peer.rate) * 100) / 100, unit: '×', notes: `peer: the old layout, median ${Math.round(peer.rate)} ticks/s: ${notesOf(old)}` },
        { name: 'KIS producer frames', value: Math.round(framesPerSecond), unit: 'frames/s', notes: `${RECORDS_PER_FRAME} records per frame` },
        { name: 'KIS producer throughput with single-record frames (one raw message per trade as well)', value: Math.round(singles.rate), unit: 'ticks/s', notes: `one burst of ${singles.trades} trades in single-record frames, the rate over its middle 80% (whole burst ${Math.round(singles.whole)}), ${pct(singles.steal)} steal. KIS batches records mostly around the open and the close` },
        { name: 'KIS producer CPU per trade (all threads: WebSocket, parse, Avro, kafkajs, GC)', value: Math.round(cpuMicrosPerTick), unit: 'µs', higherIsBetter: false, notes: `over the batched bursts; ${PRODUCER_THREADS} Kafka producer thread(s) (KIS_PRODUCER_THREADS)` },
        { name: 'KIS reconnect with the slot held 30 s: connection dropped → first tick of the new connection (median of 3 sessions)', value: Math.round(median(delays)), unit: 'ms', higherIsBetter: false, notes: `3 sessions cut at once: ${delays.map((d) => Math.round(d)).join(', ')} ms; the fake holds a dropped slot ${SLOT_HOLD_MS / 1000} s; default policy (first retry 20-30 s, doubling); ${TICKS_PER_SECOND} trades/s live` },
        { name: 'KIS connects per session until data again (slot held 30 s)', value: Math.max(...connects), unit: 'connects', higherIsBetter: false, notes: `per session: ${connects.join(', ')}; budget ${kisConfigSpec.connectsPerKey.default} per key in 10 min; the fake locks a key out above ${LOCKOUT_CONNECTS} sessions in 10 min: ${lockouts} lock-out(s)` },
      ];
    } finally {
      await consumer?.disconnect().catch(() => undefined);
      for (const s of services.reverse()) await s.stop();
    }
  },
};
