import type { Registry } from 'prom-client';
import { Counter, Gauge } from '../../lib/metrics.js';

/** The KRX services' own series (besides krx_bars_published_total and the dead-letter counter). */
export function krxMetrics(metrics: Registry) {
  return {
    requests: new Counter({ name: 'krx_requests_total', help: 'HTTP requests sent to KRX, by endpoint and status (error = no answer)', labelNames: ['endpoint', 'status'], registers: [metrics] }),
    badResponses: new Counter({ name: 'krx_bad_responses_total', help: 'KRX bodies that could not be read (dead-lettered whole)', registers: [metrics] }),
    holidays: new Counter({ name: 'krx_holidays_total', help: 'days recognised from the data as days without trading', registers: [metrics] }),
    days: new Gauge({ name: 'krx_backfill_days', help: 'backfill days: total planned and done', labelNames: ['state'], registers: [metrics] }),
    eta: new Gauge({ name: 'krx_backfill_eta_seconds', help: 'estimated seconds until the backfill is done', registers: [metrics] }),
    listings: new Gauge({ name: 'krx_listings', help: 'stocks known to the listings poller', labelNames: ['state'], registers: [metrics] }),
    polls: new Counter({ name: 'krx_polls_total', help: 'polls run, by kind and outcome', labelNames: ['kind', 'outcome'], registers: [metrics] }),
  };
}
