import { defineConfig, type ConfigOf } from '../../lib/config.js';
import { AppError } from '../../lib/errors.js';

/** The real endpoints (reference krx-data.md); tests point the URLs at the fake. */
export const KRX_ENDPOINTS = { data: 'https://data.krx.co.kr', openApi: 'https://data-dbg.krx.co.kr' } as const;

/** Settings of the KRX clients, shared by the pollers (main.ts) and the backfill (backfill.ts). */
export const krxClientConfigSpec = defineConfig({
  source: { env: 'KRX_SOURCE', type: 'enum', values: ['data', 'openapi'] as const, default: 'data', doc: "'data': data.krx.co.kr with a member login (KRX_ID/KRX_PW); 'openapi': the KRX Open API with KRX_AUTH_KEY" },
  dataUrl: { env: 'KRX_DATA_URL', type: 'url', default: KRX_ENDPOINTS.data, doc: 'base URL of data.krx.co.kr' },
  openApiUrl: { env: 'KRX_OPENAPI_URL', type: 'url', default: KRX_ENDPOINTS.openApi, doc: 'base URL of the KRX Open API' },
  memberId: { env: 'KRX_ID', type: 'optional-string', secret: true, doc: 'KRX Data Marketplace member id (KRX_SOURCE=data)' },
  password: { env: 'KRX_PW', type: 'optional-string', secret: true, doc: 'its password (KRX_SOURCE=data)' },
  authKey: { env: 'KRX_AUTH_KEY', type: 'optional-string', secret: true, doc: 'Open API key, sent as the AUTH_KEY header (KRX_SOURCE=openapi); each service needs its own approval on the key' },
  minIntervalMs: { env: 'KRX_MIN_INTERVAL_MS', type: 'int', default: 1_000, min: 0, max: 600_000, doc: 'least time between two request starts to data.krx.co.kr (pykrx waits 1 s; lower it only for the fake)' },
  openApiMinIntervalMs: { env: 'KRX_OPENAPI_MIN_INTERVAL_MS', type: 'int', default: 200, min: 0, max: 600_000, doc: 'least time between two Open API request starts' },
  dailyBudget: { env: 'KRX_OPENAPI_DAILY_BUDGET', type: 'int', default: 10_000, min: 1, doc: 'Open API calls allowed per KST day (the terms: 10,000 per key); the client refuses the next one with BUDGET_EXHAUSTED' },
  timeoutMs: { env: 'KRX_TIMEOUT_MS', type: 'int', default: 30_000, min: 100, doc: 'one request may take this long before it counts as failed (and is retried)' },
  retries: { env: 'KRX_RETRIES', type: 'int', default: 4, min: 0, max: 20, doc: 'retries of a request that timed out, failed to connect or got a 5xx' },
  backoffBaseMs: { env: 'KRX_BACKOFF_BASE_MS', type: 'int', default: 2_000, min: 1, doc: 'first retry waits 50-100% of this; doubles per retry' },
  backoffMaxMs: { env: 'KRX_BACKOFF_MAX_MS', type: 'int', default: 60_000, min: 1, doc: 'longest wait between retries' },
  sessionMaxAgeMs: { env: 'KRX_SESSION_MAX_AGE_MS', type: 'int', default: 3_600_000, min: 1_000, doc: 'log in again after this long, like pykrx (the site expires sessions)' },
});

export type KrxClientConfig = ConfigOf<typeof krxClientConfigSpec>;

/** Cross-field rules loadConfig cannot express; every broken one is listed in one CONFIG_INVALID. */
export function checkKrxClientConfig(c: KrxClientConfig): void {
  const problems: string[] = [];
  if (c.source === 'data' && (!c.memberId || !c.password)) problems.push('KRX_ID and KRX_PW: required with KRX_SOURCE=data (data.krx.co.kr needs a member login since 2026-02-27)');
  if (c.source === 'openapi' && !c.authKey) problems.push('KRX_AUTH_KEY: required with KRX_SOURCE=openapi');
  if (c.backoffMaxMs < c.backoffBaseMs) problems.push(`KRX_BACKOFF_MAX_MS (${c.backoffMaxMs}) is below KRX_BACKOFF_BASE_MS (${c.backoffBaseMs})`);
  if (problems.length > 0) throw new AppError('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`, { context: { problems } });
}

/** The pollers' own settings (main.ts). */
export const krxPollerConfigSpec = defineConfig({
  listingsPollMinutes: { env: 'KRX_LISTINGS_POLL_MINUTES', type: 'number', default: 360, min: 0.05, doc: 'how often the listings are polled (the first poll runs at start-up)' },
  dailyPollMinutes: { env: 'KRX_DAILY_POLL_MINUTES', type: 'number', default: 30, min: 0.05, doc: "how often the poller checks whether the day's prices are due" },
  dailyAfter: { env: 'KRX_DAILY_AFTER', type: 'string', default: '18:00', pattern: /^([01]\d|2[0-3]):[0-5]\d$/, doc: "KST time after which a trading day's prices are fetched (KRX publishes them after the close)" },
  dailyDate: { env: 'KRX_DAILY_DATE', type: 'optional-string', doc: 'fetch the prices of this date (YYYY-MM-DD) instead of today (re-running one day)' },
  runOnce: { env: 'KRX_RUN_ONCE', type: 'bool', default: false, doc: 'poll the listings and one day once, then exit' },
  delistGuard: { env: 'KRX_DELIST_GUARD', type: 'number', default: 0.9, min: 0, max: 1, doc: 'a listings poll with fewer than this share of the known stocks is not trusted to delist anything' },
});

/** The backfill's own settings (backfill.ts). */
export const krxBackfillConfigSpec = defineConfig({
  years: { env: 'BACKFILL_YEARS', type: 'number', default: 5, min: 0.002, max: 30, doc: 'how far back from BACKFILL_TO' },
  from: { env: 'BACKFILL_FROM', type: 'optional-string', doc: 'first date (YYYY-MM-DD); overrides BACKFILL_YEARS' },
  to: { env: 'BACKFILL_TO', type: 'optional-string', doc: 'last date (YYYY-MM-DD), default yesterday (KST)' },
  checkpointFile: { env: 'BACKFILL_CHECKPOINT_FILE', type: 'string', default: '.krx-backfill.checkpoint.json', doc: 'where progress is kept: a re-run resumes after the last completed day' },
  concurrency: { env: 'BACKFILL_CONCURRENCY', type: 'int', default: 1, min: 1, max: 16, doc: 'days fetched at once (requests still start no closer than the minimum interval)' },
  progressIntervalMs: { env: 'BACKFILL_PROGRESS_INTERVAL_MS', type: 'int', default: 10_000, min: 100, doc: 'how often progress and ETA are logged' },
  badDayRetries: { env: 'BACKFILL_BAD_DAY_RETRIES', type: 'int', default: 2, min: 0, max: 10, doc: 'a day whose body was bad is fetched again this often (at the end) before it is left for the next run' },
});
