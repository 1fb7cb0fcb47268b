import { metricValue } from '../test/helpers/metrics.js';
import { simulatedTicks } from '../test/helpers/pipeline.js';
import type { RunningService } from '../test/helpers/service-process.js';

export interface SimulatorRun {
  /** Trades the simulator produced (acknowledged by Kafka), from its closing log line. */
  ticks: number;
  /** Order books produced to `booksTopic` (0 without one). */
  books: number;
  /** The simulator's own clock: from its first step to its last, start-up excluded. */
  seconds: number;
  /** Largest lag behind the real-time schedule, sampled every second. */
  maxLag: number;
  cpuSeconds: number;
}

/** Follows a started simulator to its end (SIM_DURATION_SECONDS), sampling its metrics every second. */
export async function followSimulator(sim: RunningService, booksTopic?: string): Promise<SimulatorRun> {
  let maxLag = 0;
  let cpuSeconds = 0;
  let books = 0;
  while (sim.child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 1000));
    maxLag = Math.max(maxLag, await metricValue(sim, 'simulator_lag_seconds').catch(() => 0));
    cpuSeconds = await metricValue(sim, 'process_cpu_seconds_total').catch(() => cpuSeconds);
    if (booksTopic) books = await metricValue(sim, 'simulator_records_produced_total', { topic: booksTopic }).catch(() => books);
  }
  if ((await sim.exited) !== 0) throw new Error(`simulator failed:\n${sim.output().slice(-2000)}`);
  const ticks = simulatedTicks(sim);
  const logTime = (msg: string) => Date.parse(new RegExp(`"time":"([^"]+)"[^\\n]*"msg":"${msg}"`).exec(sim.output())?.[1] ?? '');
  const seconds = (logTime('simulation finished') - logTime('simulating')) / 1000;
  return { ticks, books, seconds, maxLag, cpuSeconds };
}
