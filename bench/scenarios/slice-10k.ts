import { metricValue } from '../../test/helpers/metrics.js';
import { sliceEnv, stopAll } from '../../test/helpers/pipeline.js';
import { questdbQuery } from '../../test/helpers/questdb.js';
import { startService, type RunningService } from '../../test/helpers/service-process.js';
import { waitFor } from '../../test/helpers/wait.js';
import { cpuTimes, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';
import { followSimulator } from '../simulator-run.js';

const RATE = 10_000;
const SECONDS = 60;
const SYMBOLS = 2_880;

/** Quantile of a prom-client histogram from its cumulative buckets (upper bound of the bucket reached). */
async function histogramQuantile(svc: RunningService, name: string, q: number): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${await svc.metricsPort()}/metrics`).then((r) => r.text());
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"[^}]*\\} (\\d+)`, 'gm'))].map((m) => ({ le: Number(m[1] === '+Inf' ? Infinity : m[1]), n: Number(m[2]) }));
  const total = buckets[buckets.length - 1]?.n ?? 0;
  return buckets.find((b) => b.n >= q * total)?.le ?? NaN;
}

export const scenario: BenchScenario = {
  name: 'slice-10k',
  description:
    `The first slice live: the simulator at ${RATE.toLocaleString('en-US')} ticks/s over ${SYMBOLS.toLocaleString('en-US')} symbols for ${SECONDS} s (real time) → ` +
    'Kafka → 1 s candle processor (transactions) → QuestDB sink, all on this 2-core machine beside the servers. ' +
    'Rows in = rows out is checked: every tick is a row in QuestDB, and the final candles add up to the ticks.',
  needsStack: true,
  async run(): Promise<BenchFigure[]> {
    const { common, ns } = sliceEnv('bench10k');
    const env = { ...common, TOPIC_PARTITIONS: '6' };
    const processor = startService('stream-processors/candles/main.js', env);
    const sink = startService('sinks/questdb/main.js', { ...env, SINK_TOPICS: 'market.ticks.v1,market.candles.1s.v1' });
    const services: RunningService[] = [processor, sink];
    try {
      await processor.waitForLog(/candle processor running/);
      await sink.waitForLog(/QuestDB sink running/);
      const sim = startService('producers/simulator/main.js', { ...env, SIM_SYMBOLS: String(SYMBOLS), SIM_TICKS_PER_SECOND: String(RATE), SIM_DURATION_SECONDS: String(SECONDS) });
      services.push(sim);
      const t0 = Date.now();
      const cpuAtStart = cpuTimes();
      const { ticks: produced, seconds: simSeconds, maxLag, cpuSeconds: simCpuSeconds } = await followSimulator(sim);
      const produceSeconds = (Date.now() - t0) / 1000;
      const tEnd = Date.now();

      const ticksTable = `${ns.tablePrefix}ticks`;
      const candlesTable = `${ns.tablePrefix}candles_1s`;
      await waitFor('every tick in QuestDB', async () => {
        const [r] = await questdbQuery(`select count() n from "${ticksTable}"`);
        return r?.['n'] === produced ? true : undefined;
      }, { timeoutMs: 180_000, intervalMs: 500 });
      const ticksDrained = (Date.now() - tEnd) / 1000;
      await waitFor('final candles adding up to the ticks', async () => {
        const [r] = await questdbQuery(`select sum(trade_count) n from "${candlesTable}" where is_final`);
        return r?.['n'] === produced ? true : undefined;
      }, { timeoutMs: 180_000, intervalMs: 500 });
      const candlesDrained = (Date.now() - tEnd) / 1000;
      const steal = stealShare(cpuAtStart, cpuTimes());
      const [t] = await questdbQuery(`select sum(quantity) q from "${ticksTable}"`);
      const [cd] = await questdbQuery(`select sum(volume) v, count() c, sum(case when is_final then 1 else 0 end) f from "${candlesTable}"`);
      const sums = { ...t, ...cd };
      if (sums['q'] !== sums['v'] || sums['c'] !== sums['f']) throw new Error(`rows in ≠ rows out: ${JSON.stringify(sums)}`);

      const cpu = async (svc: RunningService) => (await metricValue(svc, 'process_cpu_seconds_total')) / produceSeconds;
      const [p50, p99] = [await histogramQuantile(processor, 'candles_final_delay_seconds', 0.5), await histogramQuantile(processor, 'candles_final_delay_seconds', 0.99)];
      const [tx50, tx99] = [await histogramQuantile(processor, 'candles_transaction_seconds', 0.5), await histogramQuantile(processor, 'candles_transaction_seconds', 0.99)];
      return [
        { name: 'ticks produced', value: produced, unit: 'ticks', notes: `in ${simSeconds.toFixed(1)} s; largest lag behind the real-time schedule ${maxLag.toFixed(2)} s` },
        { name: 'sustained produce rate', value: produced / simSeconds, unit: 'ticks/s', target: RATE * 0.98 },
        { name: 'ticks rows in QuestDB (= ticks produced)', value: produced, unit: 'rows', target: produced, notes: `sum(quantity) of ticks = sum(volume) of final candles = ${sums['q']}; ${sums['f']} final candles, no stale in-progress row` },
        { name: 'last tick visible in QuestDB after the simulator stopped', value: ticksDrained, unit: 's', target: 5, higherIsBetter: false },
        { name: 'last final candle in QuestDB after the simulator stopped', value: candlesDrained, unit: 's', target: 5, higherIsBetter: false, notes: 'includes the 1 s grace and the 1 s idle wait before the last window may close' },
        { name: 'final candle delay after window end, p50 (bucket bound)', value: p50, unit: 's', target: 2.5, higherIsBetter: false },
        { name: 'final candle delay after window end, p99 (bucket bound)', value: p99, unit: 's', target: 5, higherIsBetter: false },
        { name: 'processor transaction commit, p50 / p99 (bucket bound)', value: tx50, unit: 's', notes: `p99 ≤ ${tx99} s` },
        { name: 'CPU: simulator / processor / sink', value: simCpuSeconds / produceSeconds, unit: 'cores', notes: `processor ${(await cpu(processor)).toFixed(2)} cores, sink ${(await cpu(sink)).toFixed(2)} cores (of 2, shared with the servers)` },
        { name: 'CPU taken by the hypervisor (steal) during the run', value: Math.round(steal * 100), unit: '%', notes: 'a shared VM: with steal the sink, the heaviest consumer here, falls behind and the two latency figures above grow' },
      ];
    } finally {
      await stopAll(...services);
    }
  },
};
