import { AppError } from '../../lib/errors.js';

/** Runs one SQL statement through QuestDB's HTTP /exec endpoint (DDL at start-up, checks in tests). */
export async function questdbExec(httpUrl: string, sql: string, timeoutMs = 30_000): Promise<{ columns?: Array<{ name: string }>; dataset?: unknown[][]; count?: number; ddl?: string }> {
  let res: Response;
  try {
    res = await fetch(`${httpUrl}/exec?query=${encodeURIComponent(sql)}`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new AppError('SINK_WRITE_FAILED', `QuestDB at ${httpUrl} is not reachable: ${(err as Error).message}`, { cause: err, retryable: true });
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; columns?: Array<{ name: string }>; dataset?: unknown[][]; count?: number; ddl?: string };
  if (!res.ok || body.error) {
    throw new AppError('SINK_WRITE_FAILED', `QuestDB rejected SQL (${res.status}): ${body.error ?? 'unknown error'}`, {
      retryable: res.status >= 500,
      context: { sql: sql.slice(0, 200) },
    });
  }
  return body;
}
