import { isAppError, type AppError } from '../../lib/errors.js';

/**
 * Writes rows [0, rows) so that every row QuestDB accepts is written and every row it rejects is
 * returned with QuestDB's reason, for the dead-letter topic.
 *
 * QuestDB applies one request all or nothing and names the first line it refused. The whole batch
 * is sent once; if it is refused, the rows before the named line are sent again (they parsed), the
 * named row alone (a row is only ever dead-lettered when QuestDB refuses it on its own), and the
 * rows after it in two halves, each the same way. Without a line hint the range is bisected. One
 * bad row costs five requests; a batch of nothing but bad rows about n·log n rows sent in total.
 *
 * `send(from, to)` posts rows [from, to); it throws a `SINK_ROW_REJECTED` AppError (context.line:
 * 1-based within the request) for refused content and anything else for an outage, which is thrown
 * on at once: the caller re-reads the batch later and the rows already written are overwritten by
 * their DEDUP keys.
 */
export async function writeIsolatingRejects(
  rows: number,
  send: (from: number, to: number) => Promise<void>,
): Promise<Array<{ row: number; error: AppError }>> {
  const rejected: Array<{ row: number; error: AppError }> = [];
  const attempt = async (from: number, to: number): Promise<AppError | undefined> => {
    try {
      await send(from, to);
      return undefined;
    } catch (err) {
      if (isAppError(err, 'SINK_ROW_REJECTED')) return err;
      throw err;
    }
  };
  const range = async (from: number, to: number): Promise<void> => {
    if (from >= to) return;
    const error = await attempt(from, to);
    if (!error) return;
    if (to - from === 1) {
      rejected.push({ row: from, error });
      return;
    }
    const line = error.context['line'];
    if (typeof line === 'number' && Number.isInteger(line) && line >= 1 && line <= to - from) {
      const bad = from + line - 1;
      await range(from, bad);
      await range(bad, bad + 1);
      const mid = bad + 1 + Math.ceil((to - bad - 1) / 2);
      await range(bad + 1, mid);
      await range(mid, to);
    } else {
      const mid = from + Math.ceil((to - from) / 2);
      await range(from, mid);
      await range(mid, to);
    }
  };
  await range(0, rows);
  return rejected.sort((a, b) => a.row - b.row);
}
