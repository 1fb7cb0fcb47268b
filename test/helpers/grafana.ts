/**
 * What Grafana does to a panel query before the database sees it, so dashboards can be tested
 * against the real QuestDB and Prometheus without a Grafana server (none installs on this machine).
 *
 * 1. The browser replaces template variables. For SQL datasources a single-value variable is
 *    inserted as is with `'` doubled; multi-value/All values become a list of quoted strings.
 * 2. The backend replaces the SQL macros of the PostgreSQL datasource (its macros.go); an unknown
 *    `$__name(...)` is an error there, so it is one here too.
 */
export interface TimeRange {
  from: Date;
  to: Date;
}

/** Go's time.RFC3339Nano in UTC: fractional seconds with trailing zeros trimmed. */
export function rfc3339Nano(d: Date): string {
  return d.toISOString().replace(/\.?0+Z$/, 'Z').replace(/\.Z$/, 'Z');
}

export function interpolateVariables(query: string, vars: Record<string, string | string[]>): string {
  return query.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    if (name.startsWith('__')) return whole; // macros and global variables are the backend's
    const value = vars[name];
    if (value === undefined) return whole;
    return Array.isArray(value) ? value.map((v) => `'${v.replace(/'/g, "''")}'`).join(',') : value.replace(/'/g, "''");
  });
}

function intervalSeconds(interval: string): number {
  const m = /^'?(\d+)(ms|s|m|h|d)'?$/.exec(interval.trim());
  if (!m) throw new Error(`bad interval ${interval}`);
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600, d: n * 86400 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
}

export function expandSqlMacros(sql: string, range: TimeRange, intervalMs: number): string {
  const from = `'${rfc3339Nano(range.from)}'`;
  const to = `'${rfc3339Nano(range.to)}'`;
  let out = sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_m, col: string) => `${col.trim()} BETWEEN ${from} AND ${to}`)
    .replace(/\$__timeFrom\(\)/g, from)
    .replace(/\$__timeTo\(\)/g, to)
    .replace(/\$__unixEpochFilter\(([^)]+)\)/g, (_m, col: string) => `${col.trim()} >= ${Math.floor(range.from.getTime() / 1000)} AND ${col.trim()} <= ${Math.floor(range.to.getTime() / 1000)}`)
    .replace(/\$__timeGroupAlias\(([^,]+),([^)]+)\)/g, (_m, col: string, iv: string) => `floor(extract(epoch from ${col.trim()})/${intervalSeconds(iv)})*${intervalSeconds(iv)} AS "time"`)
    .replace(/\$__timeGroup\(([^,]+),([^)]+)\)/g, (_m, col: string, iv: string) => `floor(extract(epoch from ${col.trim()})/${intervalSeconds(iv)})*${intervalSeconds(iv)}`)
    .replace(/\$__unixEpochFrom\(\)/g, String(Math.floor(range.from.getTime() / 1000)))
    .replace(/\$__unixEpochTo\(\)/g, String(Math.floor(range.to.getTime() / 1000)))
    .replace(/\$__interval_ms/g, String(intervalMs))
    .replace(/\$__interval/g, `${Math.max(1, Math.round(intervalMs / 1000))}s`);
  const unknown = /\$__\w+/.exec(out);
  if (unknown) throw new Error(`unknown macro ${unknown[0]} in: ${sql}`);
  out = out.trim();
  return out;
}

export function expandPromQl(expr: string, intervalMs: number): string {
  const iv = `${Math.max(1, Math.round(intervalMs / 1000))}s`;
  return expr.replace(/\$__rate_interval/g, `${Math.max(4, Math.round(intervalMs / 1000) * 4)}s`).replace(/\$__interval/g, iv);
}

export interface DashboardTarget {
  panel: string;
  refId: string;
  datasourceUid: string;
  query: string;
}

interface Panel {
  title?: string;
  datasource?: { uid?: string };
  targets?: Array<{ refId: string; datasource?: { uid?: string }; rawSql?: string; expr?: string }>;
  panels?: Panel[];
}

/** Every query of a dashboard: panel targets (rows included) and template-variable queries. */
export function dashboardTargets(dashboard: { panels?: Panel[]; templating?: { list?: Array<{ name: string; type: string; query?: string | { query?: string }; datasource?: { uid?: string } }> } }): DashboardTarget[] {
  const out: DashboardTarget[] = [];
  const walk = (panels: Panel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        const uid = t.datasource?.uid ?? p.datasource?.uid ?? 'questdb';
        out.push({ panel: p.title ?? '?', refId: t.refId, datasourceUid: uid, query: (t.rawSql ?? t.expr ?? '') });
      }
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query ?? '';
    out.push({ panel: `variable $${v.name}`, refId: v.name, datasourceUid: v.datasource?.uid ?? 'questdb', query: q });
  }
  return out;
}
