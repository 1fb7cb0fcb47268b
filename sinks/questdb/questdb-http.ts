import http from 'node:http';
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

/**
 * Posts ILP payloads to QuestDB's /write over one keep-alive connection pool. QuestDB applies a
 * request all or nothing, so a resolved post means every row of it is durable in the WAL.
 *
 * Failures are AppErrors: `SINK_ROW_REJECTED` (not retryable) when QuestDB refused the content — a
 * 4xx with its reason, and in `context.line` the 1-based line it named; `SINK_WRITE_FAILED`
 * (retryable) when QuestDB could not be reached, timed out, or failed (5xx, 408, 429).
 */
export class IlpHttpWriter {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  private readonly host: string;
  private readonly port: number;

  constructor(httpUrl: string, private readonly timeoutMs = 30_000) {
    const u = new URL(httpUrl);
    if (u.protocol !== 'http:') throw new AppError('CONFIG_INVALID', `QuestDB ILP writer supports http:// only, got ${u.protocol}`);
    this.host = u.hostname;
    this.port = Number(u.port || 80);
  }

  post(payload: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        agent: this.agent, host: this.host, port: this.port, method: 'POST', path: '/write',
        headers: { 'Content-Type': 'text/plain', 'Content-Length': payload.length },
        timeout: this.timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(unreachable(err)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve();
          reject(responseError(status, Buffer.concat(chunks).toString('utf8')));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(unreachable(err)));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function unreachable(err: Error): AppError {
  return new AppError('SINK_WRITE_FAILED', `QuestDB ILP write failed: ${err.message}`, { cause: err, retryable: true });
}

function responseError(status: number, body: string): AppError {
  let parsed: { message?: string; line?: number } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    // not JSON (a proxy, a crash page): keep the text
  }
  const reason = (parsed.message ?? body).slice(0, 1500) || `HTTP ${status}`;
  if (status >= 500 || status === 408 || status === 429) {
    return new AppError('SINK_WRITE_FAILED', `QuestDB answered ${status}: ${reason}`, { retryable: true, context: { status } });
  }
  return new AppError('SINK_ROW_REJECTED', `QuestDB rejected the rows (${status}): ${reason}`, {
    context: { status, ...(typeof parsed.line === 'number' ? { line: parsed.line } : {}) },
  });
}
