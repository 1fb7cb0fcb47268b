import { readdirSync, readFileSync } from 'node:fs';
import { questdbQuery } from '../test/helpers/questdb.js';
import { serverPid } from '../test/helpers/stack.js';
import { cpuSecondsOfStat, serverCpuSeconds } from './harness.js';
import { waitFor } from '../test/helpers/wait.js';

/** CPU seconds used so far by the stack's QuestDB server (user + system time). */
export const questdbCpuSeconds = (): number => serverCpuSeconds('questdb');

/**
 * A QuestDB thread's pool, from its name (Linux keeps the first 15 characters): `shared-network_1`
 * → shared-network (the HTTP server: ILP requests and SQL), `wal-apply_0` → wal-apply, the JVM's
 * `C2 CompilerThre…` → jit, its collector threads → gc.
 */
function questdbThreadPool(name: string): string {
  if (/^C\d CompilerThre/.test(name)) return 'jit';
  if (/^(GC Thread|G1 |VM Thread)/.test(name)) return 'gc';
  return name.replace(/[_#]\d*$/, '');
}

/** CPU seconds used so far by each of QuestDB's thread pools (see questdbThreadPool); a thread that ended is not counted. */
export function questdbPoolCpuSeconds(): Map<string, number> {
  const tasks = `/proc/${serverPid('questdb')}/task`;
  const byPool = new Map<string, number>();
  for (const tid of readdirSync(tasks)) {
    let name: string;
    let stat: string;
    try {
      name = readFileSync(`${tasks}/${tid}/comm`, 'utf8').trim();
      stat = readFileSync(`${tasks}/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const pool = questdbThreadPool(name);
    byPool.set(pool, (byPool.get(pool) ?? 0) + cpuSecondsOfStat(stat));
  }
  return byPool;
}

/** "shared-network 0.41, wal-apply 0.12, …": the cores each pool used between two readings, busiest first. */
export function poolCores(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, seconds: number): string {
  return [...after]
    .map(([pool, s]) => [pool, (s - (before.get(pool) ?? 0)) / seconds] as const)
    .filter(([, cores]) => cores >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([pool, cores]) => `${pool} ${cores.toFixed(2)}`)
    .join(', ');
}

/** Waits until `table` holds `rows` rows and its WAL is applied (what a query sees). Returns when. */
export async function waitApplied(table: string, rows: number, timeoutMs = 300_000, intervalMs = 50): Promise<number> {
  await waitFor(`${rows} rows applied in ${table}`, async () => {
    const [c] = await questdbQuery(`select count() n from "${table}"`);
    if (c?.['n'] !== rows) return undefined;
    const [w] = await questdbQuery(`select writerTxn, sequencerTxn from wal_tables() where name = '${table}'`);
    return w && w['writerTxn'] === w['sequencerTxn'] ? true : undefined;
  }, { timeoutMs, intervalMs });
  return performance.now();
}
