/**
 * The benchmark contract: one scenario per file under bench/scenarios/, each exporting `scenario`.
 * bench/run.ts runs them (all, or those named on the command line) and rewrites BENCHMARKS.md.
 */
import { readFileSync } from 'node:fs';
import { serverPid, type StackServer } from '../test/helpers/stack.js';

export interface BenchFigure {
  /** What was measured, e.g. "slice throughput (ticks in = rows out)". */
  name: string;
  value: number;
  unit: string;
  /** The target from the issue, if any; `higherIsBetter` decides the comparison. */
  target?: number;
  higherIsBetter?: boolean;
  notes?: string;
}

export interface BenchScenario {
  /** File-stem name, used on the command line: npm run bench -- <name>. */
  name: string;
  description: string;
  /** Whether it needs the native stack up (bench/run.ts starts it). */
  needsStack: boolean;
  run(): Promise<BenchFigure[]>;
}

export function meetsTarget(f: BenchFigure): boolean | undefined {
  if (f.target === undefined) return undefined;
  return f.higherIsBetter === false ? f.value <= f.target : f.value >= f.target;
}

/** The machine's CPU time counters (Linux /proc/stat, all CPUs, in clock ticks). */
export interface CpuTimes {
  total: number;
  steal: number;
}

export function cpuTimes(): CpuTimes {
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
}

/**
 * Share of the CPU time between two readings that the hypervisor gave to other guests. On a shared
 * VM this swings from a few percent to half: a figure measured under heavy steal is not comparable.
 */
export function stealShare(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  return total > 0 ? (after.steal - before.steal) / total : 0;
}

/** User + system CPU seconds of a /proc stat line (clock ticks of USER_HZ 100). */
export function cpuSecondsOfStat(stat: string): number {
  const fields = (stat.split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds used so far by one of the stack's servers (all its threads; user + system time). */
export function serverCpuSeconds(name: StackServer): number {
  return cpuSecondsOfStat(readFileSync(`/proc/${serverPid(name)}/stat`, 'utf8'));
}

/** CPU seconds used so far by this process (all its threads, the garbage collector's too). */
export function processCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** The 1-minute load average (runnable processes): above the core count, every process gets a share of a core. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** The q-quantile of `xs` (nearest rank, lower side); NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}
