import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The backfill's progress on disk. Days are published in date order with several in flight, so
 * the checkpoint is the last day before which every day is published (`doneThrough`): a restart
 * after SIGKILL repeats at most the days that were in flight, which the sinks upsert again
 * (exactly one row per stock and day). Written to a temporary file and renamed, so a kill
 * mid-write leaves the previous checkpoint, never half of one.
 */
export interface BackfillCheckpoint {
  version: 1;
  source: string;
  from: number;
  to: number;
  /** Every day up to and including this one is published (days since 1970); from - 1 at the start. */
  doneThrough: number;
  /** Days recognised as holidays from the data. */
  holidays: number[];
  /** Days whose bodies stayed bad: the next run fetches them again. */
  failed: number[];
  bars: number;
}

export function readCheckpoint(file: string): BackfillCheckpoint | null {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as BackfillCheckpoint;
    return c.version === 1 ? c : null;
  } catch {
    return null;
  }
}

export function writeCheckpoint(file: string, c: BackfillCheckpoint): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(c));
  renameSync(tmp, file);
}

/** Weekdays from `from` to `to`: KRX does not trade on weekends; holidays come from the data. */
export function weekdays(from: number, to: number): number[] {
  const out: number[] = [];
  for (let d = from; d <= to; d++) {
    const dow = (d + 4) % 7; // 1970-01-01 was a Thursday
    if (dow !== 0 && dow !== 6) out.push(d);
  }
  return out;
}

/**
 * The days a run still has to fetch: those after the checkpoint, plus the ones it left failed.
 * A checkpoint of another source or a later start is not ours to resume: start over.
 */
export function remainingDays(plan: { source: string; from: number; to: number }, saved: BackfillCheckpoint | null): { days: number[]; checkpoint: BackfillCheckpoint } {
  const fresh: BackfillCheckpoint = { version: 1, source: plan.source, from: plan.from, to: plan.to, doneThrough: plan.from - 1, holidays: [], failed: [], bars: 0 };
  if (!saved || saved.source !== plan.source || saved.from > plan.from) return { days: weekdays(plan.from, plan.to), checkpoint: fresh };
  const checkpoint: BackfillCheckpoint = { ...saved, to: plan.to, failed: [] };
  const retry = saved.failed.filter((d) => d >= plan.from && d <= plan.to);
  const days = [...new Set([...retry, ...weekdays(Math.max(plan.from, saved.doneThrough + 1), plan.to)])].sort((a, b) => a - b);
  return { days, checkpoint };
}
