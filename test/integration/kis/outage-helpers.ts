import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Tick } from '../../../schemas/generated/types.js';
import type { FakeKisServer } from '../../fakes/kis/server.js';
import { readTopicRecords } from '../../helpers/kafka.js';
import { stackEnv } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';

/** A spool directory of its own for one producer run (and its restarts). */
export function freshSpoolDir(): string {
  return mkdtempSync(join(tmpdir(), 'kis-spool-it-'));
}

export async function healthStatus(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/health`)).status;
}

export async function waitForHealth(port: number, status: number, timeoutMs: number): Promise<void> {
  await waitFor(`/health ${status}`, async () => ((await healthStatus(port)) === status ? true : undefined), { timeoutMs, intervalMs: 200 });
}

/** A trade's identity downstream (QuestDB's DEDUP key without the timestamp, which it determines). */
const idOf = (symbol: string, sequence: number) => `${symbol}#${sequence}`;

/** The trades the fake sent (first `upTo` records of its log), per symbol in the order sent. */
export function sentTradesBySymbol(fake: FakeKisServer, upTo = fake.sent.length): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const s of fake.sent.slice(0, upTo)) {
    if (s.trId !== 'H0STCNT0') continue;
    const list = by.get(s.symbol) ?? [];
    list.push(idOf(s.symbol, s.cumulativeVolume));
    by.set(s.symbol, list);
  }
  return by;
}

/**
 * Every tick on the topic, per symbol in partition (offset) order: a symbol's key puts all its ticks
 * on one partition, so this is the order every consumer sees.
 */
export async function kafkaTicksBySymbol(topic: string, atLeast: number): Promise<{ bySymbol: Map<string, string[]>; total: number }> {
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  // Read until quiet rather than up to a count: a duplicate must be seen, not cut off.
  const records = await waitFor(`at least ${atLeast} ticks on ${topic}`, async () => {
    const r = await readTopicRecords(topic, { quietMs: 3_000, timeoutMs: 90_000 });
    return r.length >= atLeast ? r : undefined;
  }, { timeoutMs: 120_000, intervalMs: 1_000 });
  const bySymbol = new Map<string, string[]>();
  for (const { message } of records) {
    const tick = (await registry.decode(message.value as Buffer)) as Tick;
    const list = bySymbol.get(tick.symbol) ?? [];
    list.push(idOf(tick.symbol, tick.sequence));
    bySymbol.set(tick.symbol, list);
  }
  return { bySymbol, total: records.length };
}

/** Trades in `seen` more than once. */
export function duplicates(seen: Map<string, string[]>): number {
  let n = 0;
  for (const list of seen.values()) n += list.length - new Set(list).size;
  return n;
}
