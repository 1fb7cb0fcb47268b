import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Market } from '../../../producers/simulator/listings.js';
import { isoToEpochDay, kstEpochDay } from '../../../lib/time.js';
import { currentDatetime, dayRow, historyRow, listingRow, openApiDayRow, openApiListingRow } from './format.js';
import { FakeKrxMarket } from './market.js';

/**
 * A fake data.krx.co.kr and KRX Open API on one port, serving FakeKrxMarket in the recorded formats
 * (reference krx-data.md): the members' login flow, `LOGOUT` without a session, text/html JSON, the
 * Open API's AUTH_KEY with one approval per service. Steered over HTTP under /__fake/.
 */
export interface FakeKrxOptions {
  host?: string;
  port?: number;
  universe?: number;
  seed?: number;
  /** KRX_ID → KRX_PW of the members. */
  members?: Record<string, string>;
  /** Open API key → the services approved on it (e.g. 'stk_bydd_trd'); '*' approves all. */
  apiKeys?: Record<string, readonly string[]>;
  /** The server answers at most one getJsonData / Open API request per this many ms (0 = off). */
  paceMs?: number;
  /** The fake's "today" (YYYY-MM-DD), for the listings report; default: the real KST date. */
  today?: string;
}

export type BadBodyKind = 'html' | 'truncated' | 'fields';

export interface FakeKrxState {
  dataRequests: number;
  openApiRequests: number;
  logins: number;
  duplicateLogins: number;
  logouts: number;
  /** Data requests that arrived sooner than 1 s after the previous one (the politeness check). */
  impoliteRequests: number;
  minIntervalMs: number | null;
  badBodiesServed: number;
  /** Request headers of the last getJsonData call. */
  lastHeaders: Record<string, string | string[] | undefined>;
}

const DATA_PATH = '/comm/bldAttendant/getJsonData.cmd';
const LOGIN_PAGE = '/contents/MDC/COMS/client/MDCCOMS001.cmd';
const LOGIN_JSP = '/contents/MDC/COMS/client/view/login.jsp';
const LOGIN_POST = '/contents/MDC/COMS/client/MDCCOMS001D1.cmd';
const OPEN_API = /^\/svc\/apis\/sto\/(stk|ksq|knx)_(bydd_trd|isu_base_info)$/;
const MARKETS: Record<string, Market | undefined> = { STK: 'KOSPI', KSQ: 'KOSDAQ', KNX: 'KONEX', ALL: undefined };
const HTML = 'text/html; charset=utf-8';

export class FakeKrxServer {
  readonly market: FakeKrxMarket;
  private readonly server: http.Server;
  private readonly members: Record<string, string>;
  private readonly apiKeys: Record<string, readonly string[]>;
  private paceMs: number;
  private today: number;
  /** JSESSIONID → member logged in on it (undefined: an anonymous session). */
  private readonly sessions = new Map<string, string | undefined>();
  private alwaysLogout = false;
  private badBodies: { kind: BadBodyKind; left: number } | null = null;
  private failNext: { status: number; left: number } | null = null;
  private paceChain: Promise<void> = Promise.resolve();
  /** Day → its whole-market MDCSTAT01501 body, rendered ahead by prepareDays. */
  private readonly preparedDays = new Map<number, Buffer>();
  private lastDataAt = 0;
  readonly state: FakeKrxState = { dataRequests: 0, openApiRequests: 0, logins: 0, duplicateLogins: 0, logouts: 0, impoliteRequests: 0, minIntervalMs: null, badBodiesServed: 0, lastHeaders: {} };
  url = '';

  private constructor(opts: FakeKrxOptions) {
    this.market = new FakeKrxMarket(opts.universe ?? 2_880, opts.seed ?? 42);
    this.members = opts.members ?? { 'fake-member': 'fake-password' };
    this.apiKeys = opts.apiKeys ?? { 'fake-auth-key': ['*'], 'fake-key-daily-only': ['stk_bydd_trd', 'ksq_bydd_trd', 'knx_bydd_trd'] };
    this.paceMs = opts.paceMs ?? 1_000;
    this.today = opts.today ? isoToEpochDay(opts.today) : kstEpochDay(Date.now());
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'content-type': HTML });
        res.end(`<html><body>fake error: ${String(err)}</body></html>`);
      });
    });
  }

  static async start(opts: FakeKrxOptions = {}): Promise<FakeKrxServer> {
    const fake = new FakeKrxServer(opts);
    await new Promise<void>((resolve) => fake.server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
    const { port } = fake.server.address() as AddressInfo;
    fake.url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
    return fake;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  // ---- steering (also over HTTP, see control()) ----
  expireSessions(): void {
    for (const id of this.sessions.keys()) this.sessions.set(id, undefined);
  }
  setAlwaysLogout(on: boolean): void {
    this.alwaysLogout = on;
  }
  serveBadBodies(kind: BadBodyKind, count: number): void {
    this.badBodies = { kind, left: count };
  }
  failNextRequests(status: number, count: number): void {
    this.failNext = { status, left: count };
  }
  setPacing(ms: number): void {
    this.paceMs = ms;
  }
  /**
   * Renders the whole-market daily report of every day in [from, to] now, and serves those bytes
   * later. For benches: the real KRX renders its answers on its own servers, so the cores of this
   * machine should go to the pipeline measured, not to the fake's JSON. Same bytes as on demand,
   * except CURRENT_DATETIME, which is the time of preparing. Returns the bytes held.
   */
  prepareDays(from: string, to: string): number {
    let bytes = 0;
    const now = currentDatetime();
    for (let day = isoToEpochDay(from); day <= isoToEpochDay(to); day++) {
      const body = Buffer.from(JSON.stringify({ OutBlock_1: this.dayRows(day, undefined), CURRENT_DATETIME: now }));
      this.preparedDays.set(day, body);
      bytes += body.length;
    }
    return bytes;
  }

  setToday(iso: string): void {
    this.today = isoToEpochDay(iso);
  }
  delist(code: string, iso: string): void {
    this.market.delist(code, isoToEpochDay(iso));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const arrived = Date.now();
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = await new Promise<string>((resolve) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => resolve(b));
    });
    if (url.pathname.startsWith('/__fake/')) return this.control(url, res);
    const cookie = /JSESSIONID=([^;\s]+)/.exec(req.headers.cookie ?? '')?.[1];

    if (req.method === 'GET' && (url.pathname === LOGIN_PAGE || url.pathname === LOGIN_JSP)) {
      const headers: Record<string, string> = { 'content-type': HTML };
      if (!cookie || !this.sessions.has(cookie)) {
        const id = randomUUID().replace(/-/g, '').toUpperCase();
        this.sessions.set(id, undefined);
        headers['set-cookie'] = `JSESSIONID=${id}; Path=/; HttpOnly`;
      }
      res.writeHead(200, headers);
      res.end('<!DOCTYPE html><html><head><title>KRX Data Marketplace</title></head><body>login</body></html>');
      return;
    }
    if (req.method === 'POST' && url.pathname === LOGIN_POST) return this.login(cookie, new URLSearchParams(body), res);
    if (req.method === 'POST' && url.pathname === DATA_PATH) {
      this.state.dataRequests++;
      this.state.lastHeaders = { ...req.headers };
      await this.pace(arrived);
      if (this.failed(res)) return;
      if (this.alwaysLogout || !cookie || this.sessions.get(cookie) === undefined) {
        this.state.logouts++;
        res.writeHead(400, { 'content-type': HTML });
        res.end('LOGOUT');
        return;
      }
      return this.data(new URLSearchParams(body), res);
    }
    const api = OPEN_API.exec(url.pathname);
    if (req.method === 'GET' && api) {
      this.state.openApiRequests++;
      await this.pace(arrived);
      if (this.failed(res)) return;
      return this.openApi(api[1] as string, api[2] as string, req.headers['auth_key'] as string | undefined, url.searchParams, res);
    }
    res.writeHead(404, { 'content-type': HTML });
    res.end('<html><body><h1>404 Not Found</h1></body></html>');
  }

  /** Answers no faster than one request per paceMs, in arrival order; notes impolite clients. */
  private pace(now: number): Promise<void> {
    if (this.lastDataAt > 0) {
      const gap = now - this.lastDataAt;
      if (gap < 1_000) this.state.impoliteRequests++;
      this.state.minIntervalMs = this.state.minIntervalMs === null ? gap : Math.min(this.state.minIntervalMs, gap);
    }
    this.lastDataAt = now;
    if (this.paceMs <= 0) return Promise.resolve();
    const turn = this.paceChain.then(() => new Promise<void>((r) => setTimeout(r, this.paceMs)));
    const mine = this.paceChain;
    this.paceChain = turn;
    return mine;
  }

  private failed(res: http.ServerResponse): boolean {
    if (!this.failNext || this.failNext.left <= 0) return false;
    this.failNext.left--;
    res.writeHead(this.failNext.status, { 'content-type': HTML });
    res.end(`<html><body><h1>${this.failNext.status}</h1></body></html>`);
    return true;
  }

  /** pykrx's flow: CD001 ok, CD011 when the member is logged in elsewhere (unless skipDup=Y). */
  private login(cookie: string | undefined, form: URLSearchParams, res: http.ServerResponse): void {
    const answer = (code: string, message: string) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ _error_code: code, _error_message: message }));
    };
    const id = form.get('mbrId') ?? '';
    if (!cookie || !this.sessions.has(cookie)) return answer('CD999', '세션이 없습니다. (fake: open MDCCOMS001.cmd first)');
    // A refused password's code is not recorded; the client treats every code but CD001/CD010/CD011 as a failure.
    if (this.members[id] === undefined || this.members[id] !== form.get('pw')) return answer('CD002', '아이디 또는 비밀번호를 확인하세요.');
    const elsewhere = [...this.sessions.entries()].filter(([sid, m]) => m === id && sid !== cookie);
    if (elsewhere.length > 0 && form.get('skipDup') !== 'Y') {
      this.state.duplicateLogins++;
      return answer('CD011', '다른 곳에서 로그인 중입니다.');
    }
    for (const [sid] of elsewhere) this.sessions.set(sid, undefined);
    this.sessions.set(cookie, id);
    this.state.logins++;
    answer('CD001', '정상');
  }

  /** MDCSTAT01501 rows of a day: every listed stock, `-` prices on a day without trading. */
  private dayRows(day: number, market: Market | undefined): Array<Record<string, string>> {
    const bars = this.market.barsOn(day, market);
    return bars ? bars.map((b) => dayRow(b.stock, b)) : this.market.listingsOn(day, market).map((s) => dayRow(s, null));
  }

  private send(res: http.ServerResponse, status: number, contentType: string, json: Record<string, unknown>): void {
    let text = JSON.stringify(json);
    const bad = this.badBodies && this.badBodies.left > 0 ? this.badBodies : null;
    if (bad) {
      bad.left--;
      this.state.badBodiesServed++;
      if (bad.kind === 'html') {
        res.writeHead(200, { 'content-type': HTML });
        res.end('<!DOCTYPE html><html><head><title>시스템 점검</title></head><body><p>서비스 이용에 불편을 드려 죄송합니다.</p></body></html>');
        return;
      }
      if (bad.kind === 'truncated') text = text.slice(0, Math.floor(text.length / 2));
      if (bad.kind === 'fields') text = text.replace(/"TDD_CLSPRC"/g, '"TDD_CLSPRC_NEW"');
    }
    res.writeHead(status, { 'content-type': contentType });
    res.end(text);
  }

  private data(form: URLSearchParams, res: http.ServerResponse): void {
    const bld = form.get('bld') ?? '';
    const market = MARKETS[form.get('mktId') ?? 'ALL'];
    const now = currentDatetime();
    if (bld === 'dbms/MDC/STAT/standard/MDCSTAT01901') {
      return this.send(res, 200, HTML, { OutBlock_1: this.market.listingsOn(this.today, market).map(listingRow), CURRENT_DATETIME: now });
    }
    if (bld === 'dbms/MDC/STAT/standard/MDCSTAT01501') {
      const day = isoToEpochDay(form.get('trdDd') ?? '');
      if (!Number.isFinite(day)) return this.send(res, 200, HTML, { OutBlock_1: [], CURRENT_DATETIME: now });
      const prepared = market === undefined ? this.preparedDays.get(day) : undefined;
      if (prepared && !(this.badBodies && this.badBodies.left > 0)) {
        res.writeHead(200, { 'content-type': HTML });
        res.end(prepared);
        return;
      }
      return this.send(res, 200, HTML, { OutBlock_1: this.dayRows(day, market), CURRENT_DATETIME: now });
    }
    if (bld === 'dbms/MDC/STAT/standard/MDCSTAT01701') {
      const isin = form.get('isuCd') ?? '';
      const stock = this.market.stocks.find((s) => s.isin === isin);
      const from = isoToEpochDay(form.get('strtDd') ?? '');
      const to = isoToEpochDay(form.get('endDd') ?? '');
      const rows: Array<Record<string, string>> = [];
      if (stock && Number.isFinite(from) && Number.isFinite(to)) {
        for (let d = to; d >= from; d--) {
          if (this.market.isTradingDay(d) && this.market.isListed(stock, d)) rows.push(historyRow(this.market.bar(stock, d)));
        }
      }
      return this.send(res, 200, HTML, { output: rows, CURRENT_DATETIME: now });
    }
    this.send(res, 200, HTML, { OutBlock_1: [], CURRENT_DATETIME: now });
  }

  private openApi(mkt: string, service: string, key: string | undefined, params: URLSearchParams, res: http.ServerResponse): void {
    const json = 'application/json; charset=utf-8';
    const approved = key === undefined ? undefined : this.apiKeys[key];
    if (!approved) return this.send(res, 401, json, { respMsg: 'Unauthorized Key', respCode: '401' });
    if (!approved.includes('*') && !approved.includes(`${mkt}_${service}`)) return this.send(res, 401, json, { respMsg: 'Unauthorized API Call', respCode: '401' });
    const market = MARKETS[mkt.toUpperCase()];
    const day = isoToEpochDay(params.get('basDd') ?? '');
    if (service === 'isu_base_info') {
      return this.send(res, 200, json, { OutBlock_1: this.market.listingsOn(Number.isFinite(day) ? day : this.today, market).map(openApiListingRow) });
    }
    const bars = Number.isFinite(day) ? this.market.barsOn(day, market) : [];
    this.send(res, 200, json, { OutBlock_1: (bars ?? []).map(openApiDayRow) });
  }

  private control(url: URL, res: http.ServerResponse): void {
    const q = url.searchParams;
    switch (url.pathname.slice('/__fake/'.length)) {
      case 'state': break;
      case 'expire-sessions': this.expireSessions(); break;
      case 'always-logout': this.setAlwaysLogout(q.get('on') !== '0'); break;
      case 'bad-bodies': this.serveBadBodies((q.get('kind') ?? 'html') as BadBodyKind, Number(q.get('count') ?? 1)); break;
      case 'fail-next': this.failNextRequests(Number(q.get('status') ?? 503), Number(q.get('count') ?? 1)); break;
      case 'pacing': this.setPacing(Number(q.get('ms') ?? 0)); break;
      case 'today': this.setToday(q.get('date') ?? ''); break;
      case 'delist': this.delist(q.get('code') ?? '', q.get('date') ?? ''); break;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('unknown command');
        return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(this.state));
  }
}
