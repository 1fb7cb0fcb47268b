/**
 * The benchmark contract: one scenario per file under bench/scenarios/, each exporting `scenario`.
 * bench/run.ts runs them (all, or those named on the command line) and rewrites BENCHMARKS.md.
 */
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
