import { AppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { epochDayToIso, kstEpochDay, nowMicros } from '../../lib/time.js';
import type { KrxSource, Stock } from '../../schemas/generated/types.js';
import type { KrxClientConfig } from './config.js';
import { PoliteHttp } from './http.js';
import { LISTING_FIELDS, parseDataDay, parseOpenApiDay, parseRows, toStock, type ParsedDay } from './parse.js';

/** What the pollers and the backfill need from KRX, whichever endpoint serves it. */
export interface KrxClient {
  readonly source: KrxSource;
  /** Every current listing of KOSPI, KOSDAQ and KONEX. */
  listings(): Promise<Stock[]>;
  /** All stocks' prices of one day (days since 1970, KST date). */
  day(date: number): Promise<ParsedDay>;
}

/** A bad body travels with the request that got it, for the dead-letter topic (never logged whole). */
export interface BadBody {
  request: string;
  status: number;
  body: string;
}

/** Attaches the request and body to a SOURCE_BAD_RESPONSE without making them loggable fields. */
function withBody(err: unknown, info: BadBody): never {
  if (err instanceof AppError && err.code === 'SOURCE_BAD_RESPONSE') {
    Object.defineProperty(err, 'badBody', { value: info, enumerable: false });
    err.context['request'] = info.request;
  }
  throw err;
}

export function badBodyOf(err: unknown): BadBody | undefined {
  return (err as { badBody?: BadBody } | null)?.badBody;
}

const compact = (day: number) => epochDayToIso(day).replace(/-/g, '');

export interface ClientHooks {
  logger: Logger;
  onRequest?: (endpoint: string, status: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

function politeHttp(c: KrxClientConfig, minIntervalMs: number, hooks: ClientHooks): PoliteHttp {
  return new PoliteHttp({
    minIntervalMs,
    timeoutMs: c.timeoutMs,
    retries: c.retries,
    backoff: { baseMs: c.backoffBaseMs, maxMs: c.backoffMaxMs },
    logger: hooks.logger,
    ...(hooks.onRequest ? { onRequest: hooks.onRequest } : {}),
    ...(hooks.sleep ? { sleep: hooks.sleep } : {}),
  });
}

const DATA_PATH = '/comm/bldAttendant/getJsonData.cmd';
const REFERER = 'https://data.krx.co.kr/contents/MDC/MDI/outerLoader/index.cmd';
/** The site answers browsers; pykrx sends a desktop Chrome's User-Agent as well. */
const USER_AGENT = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/**
 * data.krx.co.kr's JSON endpoint behind the members' login (reference §1): the session is the
 * JSESSIONID cookie; `CD011` (logged in elsewhere) is answered with `skipDup=Y`; a `LOGOUT` body
 * means the session is gone: log in again once, and if the fresh session is refused too, stop with
 * SOURCE_AUTH_FAILED — retrying a refused login cannot help and would lock the account.
 */
export class KrxDataClient implements KrxClient {
  readonly source = 'KRX_DATA' as const;
  private readonly http: PoliteHttp;
  private cookie: string | null = null;
  private loggedInAt = 0;
  private loggingIn: Promise<void> | null = null;

  constructor(private readonly c: KrxClientConfig, private readonly hooks: ClientHooks) {
    this.http = politeHttp(c, c.minIntervalMs, hooks);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      'User-Agent': USER_AGENT,
      Referer: REFERER,
      'X-Requested-With': 'XMLHttpRequest',
      Accept: 'application/json, text/javascript, */*; q=0.01',
      ...(this.cookie ? { Cookie: `JSESSIONID=${this.cookie}` } : {}),
      ...extra,
    };
  }

  private keepCookie(setCookies: string[]): void {
    for (const c of setCookies) {
      const m = /^JSESSIONID=([^;]+)/.exec(c);
      if (m) this.cookie = m[1] as string;
    }
  }

  private login(): Promise<void> {
    this.loggingIn ??= this.doLogin().finally(() => (this.loggingIn = null));
    return this.loggingIn;
  }

  private async doLogin(): Promise<void> {
    const base = this.c.dataUrl;
    this.cookie = null;
    this.keepCookie((await this.http.request('login-page', `${base}/contents/MDC/COMS/client/MDCCOMS001.cmd`, { headers: this.headers() })).setCookies);
    this.keepCookie((await this.http.request('login-form', `${base}/contents/MDC/COMS/client/view/login.jsp?site=mdc`, { headers: this.headers() })).setCookies);
    const submit = async (skipDup: boolean) => {
      const form = new URLSearchParams({ mbrId: this.c.memberId ?? '', pw: this.c.password ?? '', mbrNm: '', telNo: '', di: '', certType: '' });
      if (skipDup) form.set('skipDup', 'Y');
      const answer = await this.http.request('login', `${base}/contents/MDC/COMS/client/MDCCOMS001D1.cmd`, {
        method: 'POST',
        headers: this.headers({ 'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8' }),
        body: form.toString(),
      });
      this.keepCookie(answer.setCookies);
      try {
        return (JSON.parse(answer.text) as { _error_code?: string })._error_code ?? `HTTP ${answer.status}`;
      } catch {
        return `HTTP ${answer.status} without a JSON answer`;
      }
    };
    let code = await submit(false);
    if (code === 'CD011') {
      this.hooks.logger.info('KRX login: the member was logged in elsewhere (CD011); taking the session over (skipDup=Y)');
      code = await submit(true);
    }
    if (code === 'CD010') this.hooks.logger.warn('KRX login: the site asks for a password change (CD010); change it at data.krx.co.kr');
    else if (code !== 'CD001') {
      throw new AppError('SOURCE_AUTH_FAILED', `KRX login refused (${code}): check KRX_ID and KRX_PW`, { context: { code } });
    }
    this.loggedInAt = Date.now();
    this.hooks.logger.info('logged in to data.krx.co.kr');
  }

  /** One getJsonData call; `LOGOUT` → one fresh login → the call again → SOURCE_AUTH_FAILED. */
  async getJson(bld: string, params: Record<string, string>): Promise<{ text: string; request: string; status: number }> {
    if (this.cookie === null || Date.now() - this.loggedInAt > this.c.sessionMaxAgeMs) await this.login();
    const form = new URLSearchParams({ bld, locale: 'ko_KR', ...params, share: '1', money: '1', csvxls_isNo: 'false' });
    const request = `POST ${DATA_PATH} ${form.toString()}`;
    for (let fresh = false; ; fresh = true) {
      const answer = await this.http.request(bld.split('/').pop() as string, `${this.c.dataUrl}${DATA_PATH}`, {
        method: 'POST',
        headers: this.headers({ 'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8' }),
        body: form.toString(),
      });
      if (answer.text.trim() !== 'LOGOUT') return { text: answer.text, request, status: answer.status };
      if (fresh) {
        throw new AppError('SOURCE_AUTH_FAILED', 'data.krx.co.kr answered LOGOUT again right after a fresh login: the member session is refused (account locked, or logged in elsewhere without skipDup?)', { context: { request: bld } });
      }
      this.hooks.logger.warn({ bld }, 'data.krx.co.kr answered LOGOUT: the session expired; logging in again once');
      await this.login();
    }
  }

  async listings(): Promise<Stock[]> {
    const { text, request, status } = await this.getJson('dbms/MDC/STAT/standard/MDCSTAT01901', { mktId: 'ALL' });
    const now = nowMicros();
    try {
      return parseRows(text, 'OutBlock_1', LISTING_FIELDS).map((r) => toStock(r, 'KRX_DATA', now));
    } catch (err) {
      return withBody(err, { request, status, body: text });
    }
  }

  async day(date: number): Promise<ParsedDay> {
    const { text, request, status } = await this.getJson('dbms/MDC/STAT/standard/MDCSTAT01501', { mktId: 'ALL', trdDd: compact(date) });
    try {
      return parseDataDay(text, date, nowMicros());
    } catch (err) {
      return withBody(err, { request, status, body: text });
    }
  }
}

const OPENAPI_MARKETS = ['stk', 'ksq', 'knx'] as const;

/**
 * The KRX Open API (reference §2): the AUTH_KEY header, one approval per service (401 "Unauthorized
 * API Call" otherwise — a person must apply for it), and a daily budget of calls kept here so the
 * key is never over its terms: the call past the budget is refused with BUDGET_EXHAUSTED.
 */
export class KrxOpenApiClient implements KrxClient {
  readonly source = 'KRX_OPENAPI' as const;
  private readonly http: PoliteHttp;
  private budgetDay = -1;
  private used = 0;

  constructor(private readonly c: KrxClientConfig, private readonly hooks: ClientHooks) {
    this.http = politeHttp(c, c.openApiMinIntervalMs, hooks);
  }

  /** Calls made on the current KST day. */
  get callsToday(): number {
    return this.budgetDay === kstEpochDay(Date.now()) ? this.used : 0;
  }

  private async call(service: string, basDd: string): Promise<{ text: string; request: string; status: number }> {
    const today = kstEpochDay(Date.now());
    if (today !== this.budgetDay) {
      this.budgetDay = today;
      this.used = 0;
    }
    if (this.used >= this.c.dailyBudget) {
      throw new AppError('BUDGET_EXHAUSTED', `KRX Open API: the daily budget of ${this.c.dailyBudget} calls is spent; it renews at midnight KST`, { context: { service } });
    }
    this.used++;
    const path = `/svc/apis/sto/${service}?basDd=${basDd}`;
    const answer = await this.http.request(service, `${this.c.openApiUrl}${path}`, { headers: { AUTH_KEY: this.c.authKey ?? '', Accept: 'application/json' } });
    if (answer.status === 401 || answer.status === 403) {
      let msg = answer.text.slice(0, 200);
      try {
        msg = (JSON.parse(answer.text) as { respMsg?: string }).respMsg ?? msg;
      } catch { /* keep the text */ }
      throw new AppError('SOURCE_AUTH_FAILED', `KRX Open API refused ${service} (${answer.status} ${msg}): the key needs an approval for this service`, { context: { service } });
    }
    return { text: answer.text, request: `GET ${path}`, status: answer.status };
  }

  async listings(): Promise<Stock[]> {
    const now = nowMicros();
    const out: Stock[] = [];
    const basDd = compact(kstEpochDay(Date.now()));
    for (const m of OPENAPI_MARKETS) {
      const { text, request, status } = await this.call(`${m}_isu_base_info`, basDd);
      try {
        out.push(...parseRows(text, 'OutBlock_1', LISTING_FIELDS).map((r) => toStock(r, 'KRX_OPENAPI', now)));
      } catch (err) {
        withBody(err, { request, status, body: text });
      }
    }
    return out;
  }

  async day(date: number): Promise<ParsedDay> {
    const parts: ParsedDay[] = [];
    for (const m of OPENAPI_MARKETS) {
      const { text, request, status } = await this.call(`${m}_bydd_trd`, compact(date));
      try {
        parts.push(parseOpenApiDay(text, date, nowMicros()));
      } catch (err) {
        withBody(err, { request, status, body: text });
      }
    }
    const bars = parts.flatMap((p) => p.bars);
    return { date, holiday: bars.length === 0, bars };
  }
}

export function createKrxClient(c: KrxClientConfig, hooks: ClientHooks): KrxClient {
  return c.source === 'data' ? new KrxDataClient(c, hooks) : new KrxOpenApiClient(c, hooks);
}
