import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file is compiled to dist/test/helpers/). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface StackEnv {
  KAFKA_BROKERS: string;
  SCHEMA_REGISTRY_URL: string;
  QUESTDB_HTTP_URL: string;
  QUESTDB_PG_URL: string;
  POSTGRES_URL: string;
  PROMETHEUS_URL: string;
}

let cached: StackEnv | undefined;

/** Connection settings of the running native stack, as `stack.sh env` prints them. */
export function stackEnv(): StackEnv {
  if (cached) return cached;
  const out = execFileSync('bash', [join(REPO_ROOT, 'stack', 'stack.sh'), 'env'], { encoding: 'utf8' });
  const env: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^export ([A-Z_]+)=['"]?(.*?)['"]?$/.exec(line.trim());
    if (m) env[m[1] as string] = m[2] as string;
  }
  for (const k of ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'QUESTDB_HTTP_URL']) {
    if (!env[k]) throw new Error(`stack.sh env did not print ${k}; is the stack up? (npm run stack -- up)`);
  }
  cached = env as unknown as StackEnv;
  return cached;
}

/** A fresh topic namespace and table prefix per test, so tests never see each other's data. */
export function freshNamespace(name: string): { topicNamespace: string; tablePrefix: string; id: string } {
  const id = `${name.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 20)}${randomBytes(3).toString('hex')}`;
  return { topicNamespace: `t-${id}.`, tablePrefix: `t_${id}_`, id };
}

/**
 * Points every test helper (readTopic, testKafka, …) at another Kafka cluster, e.g. one a test
 * started itself; returns a function that points them back.
 */
export function useKafkaBrokers(brokers: string): () => void {
  const env = stackEnv();
  const before = env.KAFKA_BROKERS;
  env.KAFKA_BROKERS = brokers;
  return () => {
    env.KAFKA_BROKERS = before;
  };
}

/**
 * Runs `stack.sh <args>` (up, down, …) against the same state folder the tests' stack uses, or with
 * `env` against another one (KMARKET_STACK_HOME, KAFKA_NODES, ports).
 */
export function stack(...args: string[]): string {
  return stackWith({}, ...args);
}

export function stackWith(env: Record<string, string>, ...args: string[]): string {
  return execFileSync('bash', [join(REPO_ROOT, 'stack', 'stack.sh'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

/** Where the native stack keeps its servers' state, pid files and logs (stack/stack.sh: KMARKET_STACK_HOME, else .stack). */
export const stackHome = (): string => process.env['KMARKET_STACK_HOME'] ?? join(REPO_ROOT, '.stack');

export type StackServer = 'kafka' | 'kafka2' | 'kafka3' | 'questdb' | 'registry' | 'postgres';

/** The process id of one of the stack's running servers, from the pid file stack/stack.sh keeps. */
export function serverPid(name: StackServer, home = stackHome()): number {
  return Number(readFileSync(join(home, name, `${name}.pid`), 'utf8').trim());
}

/**
 * Kills one of the stack's servers with SIGKILL, as a crash or an OOM kill would (no shutdown hook,
 * no flush), and returns once the process is gone. `stack('up', name)` starts it again.
 */
export async function killServer(name: StackServer, home = stackHome()): Promise<void> {
  const pid = serverPid(name, home);
  process.kill(pid, 'SIGKILL');
  const gone = () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  while (!gone()) await new Promise((r) => setTimeout(r, 20));
}

/** The QuestDB settings every deployment shares (stack/questdb/server.env), as environment variable and value. */
export function questdbServerSettings(): Array<{ env: string; value: string }> {
  return readFileSync(join(REPO_ROOT, 'stack', 'questdb', 'server.env'), 'utf8').split('\n')
    .map((line) => /^(QDB_[A-Z0-9_]+)=(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ env: m[1] as string, value: m[2] as string }));
}
