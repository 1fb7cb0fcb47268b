import { stackEnv } from './stack.js';

/** Rows of a QuestDB query as objects keyed by column name (HTTP /exec keeps micros and LONGs exact). */
export async function questdbQuery(sql: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${stackEnv().QUESTDB_HTTP_URL}/exec?query=${encodeURIComponent(sql)}`);
  const body = (await res.json()) as { error?: string; columns?: Array<{ name: string }>; dataset?: unknown[][] };
  if (!res.ok || body.error) throw new Error(`QuestDB: ${body.error ?? res.status} for ${sql}`);
  const cols = (body.columns ?? []).map((c) => c.name);
  return (body.dataset ?? []).map((row) => Object.fromEntries(row.map((v, i) => [cols[i], v])));
}

/** 2026-11-22T04:39:00.123456Z → epoch microseconds. */
export function isoToMicros(iso: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(iso);
  if (!m) throw new Error(`not an ISO timestamp: ${iso}`);
  return Date.parse(`${m[1]}Z`) * 1000 + Number((m[2] ?? '').padEnd(6, '0'));
}
