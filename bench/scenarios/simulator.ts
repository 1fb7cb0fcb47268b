/**
 * The simulator alone, one process, the whole market (2,880 symbols) into Kafka with acks from the
 * broker: (1) in real time at 50,000 trades/s, which it must keep up with (its lag behind the
 * schedule is the proof); (2) the same with an order book per trade as well (twice the records, the
 * books four times the bytes); (3) as fast as Kafka takes it (SIM_SPEED=0), trades only, for the
 * headroom. Counts are the simulator's own (records acknowledged by Kafka).
 */
import { sliceEnv } from '../../test/helpers/pipeline.js';
import { startService } from '../../test/helpers/service-process.js';
import { cpuTimes, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';
import { followSimulator, type SimulatorRun } from '../simulator-run.js';
import { yesterdayAt } from '../../test/helpers/time.js';

const SYMBOLS = 2_880;
const RATE = 50_000;
const SECONDS = 30;

interface Run extends SimulatorRun {
  cpuCores: number;
  steal: number;
}

async function runSimulator(env: Record<string, string>): Promise<Run> {
  const before = cpuTimes();
  const run = await followSimulator(startService('producers/simulator/main.js', env), `${env['TOPIC_NAMESPACE']}market.orderbook.v1`);
  return { ...run, cpuCores: run.cpuSeconds / run.seconds, steal: stealShare(before, cpuTimes()) };
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
      SIM_DURATION_SECONDS: String(SECONDS * 2), SIM_SPEED: '0', SIM_START: yesterdayAt('01:00').toISOString(),
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
