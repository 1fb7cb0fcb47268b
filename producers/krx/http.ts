import { AppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { backoffDelay, type BackoffPolicy } from '../kis/backoff.js';

export interface HttpAnswer {
  status: number;
  contentType: string;
  text: string;
  setCookies: string[];
}

export interface PoliteHttpOptions {
  /** Least time between two request starts (politeness toward a public site). */
  minIntervalMs: number;
  timeoutMs: number;
  retries: number;
  backoff: BackoffPolicy;
  logger: Logger;
  /** Called once per request sent (metrics), with its HTTP status or 'error'. */
  onRequest?: (endpoint: string, status: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * HTTP with manners: request starts are spaced by at least `minIntervalMs` (also across concurrent
 * callers), and a request that timed out, could not connect or got a 5xx is retried with
 * exponential back-off. 4xx answers are returned to the caller, who knows what they mean.
 */
export class PoliteHttp {
  private nextStart = 0;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: PoliteHttpOptions) {
    this.sleep = opts.sleep ?? defaultSleep;
  }

  /** Waits for this caller's turn: turns are handed out in call order, minIntervalMs apart. */
  private async turn(): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.nextStart);
    this.nextStart = at + this.opts.minIntervalMs;
    if (at > now) await this.sleep(at - now);
  }

  /** `endpoint` names the request in logs and metrics; it must not hold secrets. */
  async request(endpoint: string, url: string, init: RequestInit): Promise<HttpAnswer> {
    let attempt = 0;
    for (;;) {
      await this.turn();
      let failure: string;
      try {
        const res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.opts.timeoutMs) });
        const text = await res.text();
        this.opts.onRequest?.(endpoint, String(res.status));
        if (res.status < 500) {
          return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, setCookies: res.headers.getSetCookie() };
        }
        failure = `HTTP ${res.status}`;
      } catch (err) {
        this.opts.onRequest?.(endpoint, 'error');
        const e = err as Error;
        failure = e.name === 'TimeoutError' ? `no answer in ${this.opts.timeoutMs} ms` : `${e.message}${(e.cause as Error | undefined)?.message ? ` (${(e.cause as Error).message})` : ''}`;
      }
      if (attempt >= this.opts.retries) {
        throw new AppError('SOURCE_UNAVAILABLE', `${endpoint}: ${failure}, ${attempt + 1} attempt(s)`, { retryable: true, context: { endpoint } });
      }
      const delay = backoffDelay(attempt, this.opts.backoff);
      this.opts.logger.warn({ endpoint, failure, attempt: attempt + 1, retryInMs: delay }, 'KRX request failed; retrying after a back-off');
      attempt++;
      await this.sleep(delay);
    }
  }
}
