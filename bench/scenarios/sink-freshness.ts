/**
 * How far behind the live panels are: the simulator in real time at 10,000 trades/s over 2,880
 * symbols with an order book per trade → the 1 s candle processor → the QuestDB sink (ticks, 1 s
 * candles, order books), all on this machine beside the servers. For a minute, several times a
 * second, one SQL query through QuestDB's HTTP endpoint reads what a panel would see:
 *   - newest tick: systimestamp() − max(ingest_time) of `ticks` (ingest time = when the simulator
 *     produced the trade, so this is produce → Kafka → sink → QuestDB → visible);
 *   - newest in-progress candle, what the issue asks: the in-progress version emitted last (max
 *     emitted_at of `candles_1s` where not is_final: a final waits for the grace period, 1 s, after
 *     its window, so its newest tick is 1-2 s old by design and says nothing of a live panel's lag)
 *     is read with the sample's systimestamp(); after the run, the newest tick it contains is found
 *     in `ticks` (its trade_count-th trade of that symbol and second, by seq: one sequence per
 *     symbol across venues, in the processor's input order), and the figure is
 *     now − that tick's ingest_time: produce → processor → its next emission (every
 *     CANDLE_UPDATE_INTERVAL_MS) and transaction commit → sink → visible;
 *   - the same candle's systimestamp() − emitted_at: the part after the emission alone, split in
 *     two: a read_committed consumer of the 1 s topic times each in-progress version from its
 *     emission to its arrival (the processor's commit and Kafka), and each sample also reads QuestDB's
 *     wal_tables(): transactions the sink committed that QuestDB has not applied yet (not visible).
 * p50 / p99 / max of both, the CPU of each process, and the machine's steal.
 */
import { testKafka } from '../../test/helpers/kafka.js';
import { metricValue } from '../../test/helpers/metrics.js';
import { sliceEnv, stopAll } from '../../test/helpers/pipeline.js';
import { isoToMicros, questdbQuery } from '../../test/helpers/questdb.js';
import { startService, type RunningService } from '../../test/helpers/service-process.js';
import { stackEnv } from '../../test/helpers/stack.js';
import { waitFor } from '../../test/helpers/wait.js';
import { AvroSerde } from '../../lib/serde.js';
import type { Candle } from '../../schemas/generated/types.js';
import { cpuTimes, loadAverage, quantile, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';
import { poolCores, questdbCpuSeconds, questdbPoolCpuSeconds } from '../questdb-probe.js';
import { followSimulator } from '../simulator-run.js';

// BENCH_FRESH_RATE runs it at another rate (a lighter run when the shared machine cannot carry this one).
const RATE = Number(process.env['BENCH_FRESH_RATE'] ?? 10_000);
const SYMBOLS = 2_880;
const WARM_UP_S = 8;
const SAMPLE_S = 60;
const SAMPLE_EVERY_MS = 200;

const largest = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);

export const scenario: BenchScenario = {
  name: 'sink-freshness',
  description:
    `Live freshness at ${RATE.toLocaleString('en-US')} trades/s over ${SYMBOLS.toLocaleString('en-US')} symbols with order books on (simulator in real time → candle processor → QuestDB sink): ` +
    `newest tick and newest in-progress candle as QuestDB SQL sees them, sampled every ${SAMPLE_EVERY_MS} ms for ${SAMPLE_S} s`,
  needsStack: true,
  async run(): Promise<BenchFigure[]> {
    const { common, ns } = sliceEnv('benchfresh');
    const env = { ...common, TOPIC_PARTITIONS: '6' };
    const processor = startService('stream-processors/candles/main.js', env);
    const sink = startService('sinks/questdb/main.js', { ...env, SINK_TOPICS: 'market.ticks.v1,market.candles.1s.v1,market.orderbook.v1' });
    const services: RunningService[] = [processor, sink];
    // Emission → readable by a read_committed consumer, per in-progress version, while sampling.
    const reader = testKafka().consumer({ groupId: `${ns.id}-freshness-reader`, readUncommitted: false, maxWaitTimeInMs: 100 });
    try {
      await processor.waitForLog(/candle processor running/);
      await sink.waitForLog(/QuestDB sink running/);
      const serde = new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL);
      const toKafka: number[] = [];
      const emitted = new Set<number>();
      let sampling = false;
      await reader.connect();
      await reader.subscribe({ topic: `${ns.topicNamespace}market.candles.1s.v1`, fromBeginning: true });
      await reader.run({
        eachBatch: async ({ batch }) => {
          const now = Date.now() * 1000;
          if (!sampling) return;
          for (const m of batch.messages) {
            const c = await serde.decode<Candle>(m.value);
            if (!c.isFinal) { toKafka.push((now - c.emittedAt) / 1000); emitted.add(c.emittedAt); }
          }
        },
      });
      const sim = startService('producers/simulator/main.js', {
        ...env, SIM_SYMBOLS: String(SYMBOLS), SIM_TICKS_PER_SECOND: String(RATE), SIM_ORDERBOOKS: 'true', SIM_DURATION_SECONDS: String(WARM_UP_S + SAMPLE_S + 2),
      });
      services.push(sim);
      const simRun = followSimulator(sim, `${ns.topicNamespace}market.orderbook.v1`);
      await new Promise((r) => setTimeout(r, WARM_UP_S * 1000));

      const cpu = async () => ({ sim: await metricValue(sim, 'process_cpu_seconds_total'), processor: await metricValue(processor, 'process_cpu_seconds_total'), sink: await metricValue(sink, 'process_cpu_seconds_total'), questdb: questdbCpuSeconds() });
      const machine = cpuTimes();
      const cpu0 = await cpu();
      const pools0 = questdbPoolCpuSeconds();
      const commits = () => metricValue(processor, 'candles_transaction_seconds_count');
      const commits0 = await commits();
      const sessionFailures = () => metricValue(processor, 'candles_session_failures_total');
      const failures0 = await sessionFailures();
      const t0 = performance.now();
      const tickLag: number[] = [];
      const candleLag: number[] = [];
      const seen: Array<{ now: number; symbol: string; ts: string; count: number }> = [];
      const walLag = new Map<string, number[]>();
      const walSql = `select name, writerTxn, sequencerTxn from wal_tables() where name in ('${['ticks', 'candles_1s', 'orderbook'].map((t) => ns.tablePrefix + t).join("', '")}')`;
      sampling = true;
      const sql = `select systimestamp() now, t.tick, c.candle, c.symbol, c.ts, c.trade_count from (select max(ingest_time) tick from "${ns.tablePrefix}ticks" where ts > dateadd('s', -30, now())) t ` +
        `cross join (select emitted_at candle, symbol, ts, trade_count from "${ns.tablePrefix}candles_1s" where ts > dateadd('s', -30, now()) and not is_final order by emitted_at desc limit 1) c`;
      while (performance.now() - t0 < SAMPLE_S * 1000) {
        const next = performance.now() + SAMPLE_EVERY_MS;
        const [r] = await questdbQuery(sql);
        if (r?.['tick'] && r['candle']) {
          const now = isoToMicros(r['now'] as string);
          tickLag.push((now - isoToMicros(r['tick'] as string)) / 1000);
          candleLag.push((now - isoToMicros(r['candle'] as string)) / 1000);
          seen.push({ now, symbol: r['symbol'] as string, ts: r['ts'] as string, count: Number(r['trade_count']) });
        }
        for (const w of await questdbQuery(walSql)) {
          const table = String(w['name']).slice(ns.tablePrefix.length);
          let lags = walLag.get(table);
          if (!lags) walLag.set(table, (lags = []));
          lags.push(Number(w['sequencerTxn']) - Number(w['writerTxn']));
        }
        await new Promise((res) => setTimeout(res, Math.max(0, next - performance.now())));
      }
      sampling = false;
      const seconds = (performance.now() - t0) / 1000;
      const cpu1 = await cpu();
      const pools1 = questdbPoolCpuSeconds();
      const commitsPerSecond = ((await commits()) - commits0) / seconds;
      const failures = (await sessionFailures()) - failures0;
      const steal = stealShare(machine, cpuTimes());
      const { ticks, books, seconds: simSeconds, maxLag } = await simRun;
      // The sink has written every tick by now (the simulator stopped; waited for below).
      const candleTickLag: number[] = [];
      for (const s of seen) {
        const find = `select ingest_time from "${ns.tablePrefix}ticks" where symbol = '${s.symbol}' and ts >= '${s.ts}' and ts < dateadd('s', 1, '${s.ts}') order by seq limit ${s.count - 1}, ${s.count}`;
        const row = await waitFor(`tick ${s.count} of ${s.symbol} at ${s.ts}`, async () => (await questdbQuery(find))[0], { timeoutMs: 60_000 });
        candleTickLag.push((s.now - isoToMicros(row['ingest_time'] as string)) / 1000);
      }
      // A panel's newest candle ages by the gap until the processor's next emission: every
      // CANDLE_UPDATE_INTERVAL_MS, unless the processor stops (a session restarted on a Kafka error).
      const emissions = [...emitted].sort((a, b) => a - b);
      const gaps = emissions.slice(1).map((t, k) => (t - (emissions[k] as number)) / 1000);
      const cores = (k: keyof typeof cpu0) => ((cpu1[k] - cpu0[k]) / seconds).toFixed(2);
      const ms = (x: number) => Math.round(x);
      const tickNote = `${tickLag.length} samples; p50 ${ms(quantile(tickLag, 0.5))} / p99 ${ms(quantile(tickLag, 0.99))} / max ${ms(Math.max(...tickLag))} ms`;
      const candleNote = `p50 ${ms(quantile(candleTickLag, 0.5))} / p99 ${ms(quantile(candleTickLag, 0.99))} / max ${ms(Math.max(...candleTickLag))} ms; ` +
        `since its emission alone (now − emitted_at): p50 ${ms(quantile(candleLag, 0.5))} / p99 ${ms(quantile(candleLag, 0.99))} / max ${ms(Math.max(...candleLag))} ms`;
      return [
        { name: 'newest tick visible, p50 (now − max(ingest_time))', value: ms(quantile(tickLag, 0.5)), unit: 'ms', target: 150, higherIsBetter: false, notes: tickNote },
        { name: 'newest tick visible, p99', value: ms(quantile(tickLag, 0.99)), unit: 'ms', target: 400, higherIsBetter: false },
        { name: 'newest tick visible, max', value: ms(Math.max(...tickLag)), unit: 'ms', higherIsBetter: false },
        { name: 'newest in-progress candle after the newest tick it contains, p50', value: ms(quantile(candleTickLag, 0.5)), unit: 'ms', higherIsBetter: false, notes: candleNote },
        { name: 'newest in-progress candle after the newest tick it contains, p99', value: ms(quantile(candleTickLag, 0.99)), unit: 'ms', target: 750, higherIsBetter: false },
        { name: 'newest in-progress candle after the newest tick it contains, max', value: ms(Math.max(...candleTickLag)), unit: 'ms', higherIsBetter: false },
        { name: 'newest in-progress candle after its emission (now − max(emitted_at)), p99', value: ms(quantile(candleLag, 0.99)), unit: 'ms', higherIsBetter: false },
        {
          name: 'of which emission → readable in Kafka (read_committed), p99', value: ms(quantile(toKafka, 0.99)), unit: 'ms', higherIsBetter: false,
          notes: `${toKafka.length} in-progress versions; p50 ${ms(quantile(toKafka, 0.5))} / p99 ${ms(quantile(toKafka, 0.99))} / max ${ms(largest(toKafka))} ms (the processor's commit every COMMIT_INTERVAL_MS, then Kafka; it committed ${commitsPerSecond.toFixed(1)} transactions a second); ` +
            `the processor's in-progress emissions seen while sampling: ${emissions.length}, gaps between them p50 ${ms(quantile(gaps, 0.5))} / p99 ${ms(quantile(gaps, 0.99))} / max ${ms(largest(gaps))} ms, ` +
            `its Kafka sessions replaced after an error: ${failures}; ` +
            `QuestDB transactions committed by the sink but not yet applied (invisible to SQL), p50 / p99 / max per sample: ${[...walLag].map(([t, v]) => `${t} ${quantile(v, 0.5)} / ${quantile(v, 0.99)} / ${largest(v)}`).join(', ')}`,
        },
        { name: 'trades per second produced', value: Math.round(ticks / simSeconds), unit: 'ticks/s', target: RATE * 0.98, notes: `${ticks} trades and ${books} order books in ${simSeconds.toFixed(1)} s; simulator's largest lag behind real time ${maxLag.toFixed(2)} s` },
        { name: 'CPU while sampling: sink', value: Number(cores('sink')), unit: 'cores', notes: `simulator ${cores('sim')}, candle processor ${cores('processor')}, sink ${cores('sink')}, QuestDB ${cores('questdb')} cores (of 2, with Kafka and the rest beside them); ${Math.round(steal * 100)}% steal; load average ${loadAverage()}` },
        { name: 'CPU while sampling: QuestDB', value: Number(cores('questdb')), unit: 'cores', notes: `by thread pool: ${poolCores(pools0, pools1, seconds)} cores (shared-network serves HTTP: the sink's ILP requests and the SQL; jit is the JVM compiling QuestDB's code, high for minutes after a start)` },
      ];
    } finally {
      await reader.disconnect();
      await stopAll(...services);
    }
  },
};
