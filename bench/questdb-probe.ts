import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { questdbQuery } from '../test/helpers/questdb.js';
import { REPO_ROOT } from '../test/helpers/stack.js';
import { waitFor } from '../test/helpers/wait.js';

/** CPU seconds used so far by the stack's QuestDB server (its pid file; user + system time). */
export function questdbCpuSeconds(): number {
  const home = process.env['KMARKET_STACK_HOME'] ?? join(REPO_ROOT, '.stack');
  const pid = readFileSync(join(home, 'questdb', 'questdb.pid'), 'utf8').trim();
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
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
