/**
 * The simulator alone, one process, the whole market (2,880 symbols) into Kafka with acks from the
 * broker: (1) in real time at 50,000 trades/s, which it must keep up with (its lag behind the
 * schedule is the proof); (2) the same with an order book per trade as well (twice the records, the
 * books four times the bytes); (3) as fast as Kafka takes it (SIM_SPEED=0), trades only, for the
 * headroom. Counts are the simulator's own (records acknowledged by Kafka).
 */
import { metricValue } from '../../test/helpers/metrics.js';
import { sliceEnv } from '../../test/helpers/pipeline.js';
import { startService } from '../../test/helpers/service-process.js';
import { cpuTimes, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';

const SYMBOLS = 2_880;
const RATE = 50_000;
const SECONDS = 30;

interface Run {
  ticks: number;
  books: number;
  seconds: number;
  maxLag: number;
  cpuCores: number;
  steal: number;
}

async function runSimulator(env: Record<string, string>): Promise<Run> {
  const sim = startService('producers/simulator/main.js', env);
  const before = cpuTimes();
  let maxLag = 0;
  let cpuSeconds = 0;
  let books = 0;
  while (sim.child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 1000));
    maxLag = Math.max(maxLag, await metricValue(sim, 'simulator_lag_seconds').catch(() => 0));
    cpuSeconds = await metricValue(sim, 'process_cpu_seconds_total').catch(() => cpuSeconds);
    books = await metricValue(sim, 'simulator_records_produced_total', { topic: `${env['TOPIC_NAMESPACE']}market.orderbook.v1` }).catch(() => books);
  }
  if ((await sim.exited) !== 0) throw new Error(`simulator failed:\n${sim.output().slice(-2000)}`);
  const ticks = Number(/"ticks":(\d+)/.exec(sim.output())?.[1] ?? NaN);
  // The simulator's own clock: from its first step to its last, start-up excluded.
  const logTime = (msg: string) => Date.parse(new RegExp(`"time":"([^"]+)"[^\\n]*"msg":"${msg}"`).exec(sim.output())?.[1] ?? '');
  const seconds = (logTime('simulation finished') - logTime('simulating')) / 1000;
  return { ticks, books, seconds, maxLag, cpuCores: cpuSeconds / seconds, steal: stealShare(before, cpuTimes()) };
}

export const scenario: BenchScenario = {
  name: 'simulator',
  description: `The simulator alone, one process, ${SYMBOLS.toLocaleString('en-US')} symbols into Kafka: in real time at ${RATE.toLocaleString('en-US')} trades/s (with and without order books), and as fast as Kafka takes it (trades only)`,
  needsStack: true,
  async run(): Promise<BenchFigure[]> {
    const live = { TOPIC_PARTITIONS: '6', SIM_SYMBOLS: String(SYMBOLS), SIM_TICKS_PER_SECOND: String(RATE), SIM_DURATION_SECONDS: String(SECONDS) };
    const realTime = await runSimulator({ ...sliceEnv('benchsim').common, ...live });
    const withBooks = await runSimulator({ ...sliceEnv('benchsimbooks').common, ...live, SIM_ORDERBOOKS: 'true' });
    const fast = sliceEnv('benchsimfast');
    const flatOut = await runSimulator({
      ...fast.common, TOPIC_PARTITIONS: '6', SIM_SYMBOLS: String(SYMBOLS), SIM_TICKS_PER_SECOND: String(RATE),
      SIM_DURATION_SECONDS: String(SECONDS * 2), SIM_SPEED: '0', SIM_START: '2026-11-20T01:00:00Z',
    });
    const pct = (x: number) => `${Math.round(x * 100)}%`;
    return [
      { name: 'trades per second in real time', value: Math.round(realTime.ticks / realTime.seconds), unit: 'ticks/s', target: RATE * 0.98, higherIsBetter: true, notes: `${realTime.ticks} trades in ${realTime.seconds.toFixed(1)} s; ${realTime.cpuCores.toFixed(2)} cores; ${pct(realTime.steal)} steal` },
      { name: 'largest lag behind the real-time schedule', value: Number(realTime.maxLag.toFixed(2)), unit: 's', target: 1, higherIsBetter: false, notes: 'sampled every second; the simulator produces 50 ms steps and waits for each to be acknowledged' },
      { name: 'trades per second in real time, with an order book per trade', value: Math.round(withBooks.ticks / withBooks.seconds), unit: 'ticks/s', notes: `${withBooks.ticks} trades and ${withBooks.books} order books in ${withBooks.seconds.toFixed(1)} s, largest lag ${withBooks.maxLag.toFixed(2)} s; ${withBooks.cpuCores.toFixed(2)} cores; ${pct(withBooks.steal)} steal` },
      { name: 'trades per second as fast as Kafka takes them (SIM_SPEED=0, no order books)', value: Math.round(flatOut.ticks / flatOut.seconds), unit: 'ticks/s', notes: `${flatOut.ticks} trades in ${flatOut.seconds.toFixed(1)} s; ${flatOut.cpuCores.toFixed(2)} cores; ${pct(flatOut.steal)} steal` },
    ];
  },
};
