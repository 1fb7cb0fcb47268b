import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach } from 'node:test';
import { REPO_ROOT } from './stack.js';

export interface RunningService {
  /** The entry point it runs, e.g. 'sinks/questdb/main.js'. */
  readonly entry: string;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (JSON log lines and stderr). */
  output(): string;
  /** The port its /metrics and /health are served on, once it logged it. */
  metricsPort(timeoutMs?: number): Promise<number>;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Services started by the test now running; its failure prints their last log lines. */
const startedInTest: Array<{ entry: string; pid: number | undefined; output: () => string }> = [];
const LOG_TAIL_LINES = 40;

// Every integration test imports this module, so the hook is registered for every test file: a
// failing test shows what the services it started were saying, not just which wait timed out.
afterEach((t) => {
  const started = startedInTest.splice(0);
  // `passed` is in Node 20.20's TestContext but not yet in @types/node 20.
  if ((t as { passed?: boolean }).passed !== false) return;
  for (const s of started) {
    const tail = s.output().trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
    process.stderr.write(`\n---- last ${LOG_TAIL_LINES} log lines of ${s.entry} (pid ${s.pid}) ----\n${tail}\n---- end of ${s.entry} ----\n`);
  }
});

/**
 * Starts services one after the other, each once the one before logged its ready line (services
 * creating the same topics at the same moment trip over kafkajs's leader wait); each joins `running`.
 */
export async function startInOrder(services: ReadonlyArray<readonly [entry: string, env: Record<string, string>, ready: RegExp]>, running: RunningService[], readyTimeoutMs?: number): Promise<RunningService[]> {
  const started: RunningService[] = [];
  for (const [entry, env, ready] of services) {
    const s = startService(entry, env);
    running.push(s);
    started.push(s);
    await s.waitForLog(ready, readyTimeoutMs);
  }
  return started;
}

/**
 * Starts a compiled service entry point (e.g. 'producers/simulator/main.js') as its own process.
 * SERVICE_NODE_ARGS adds Node flags to every service started (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
 * to profile a bench; Node refuses those in NODE_OPTIONS).
 */
export function startService(entry: string, env: Record<string, string>): RunningService {
  const nodeArgs = (process.env['SERVICE_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, join(REPO_ROOT, 'dist', entry)], {
    env: { ...process.env, METRICS_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  startedInTest.push({ entry, pid: child.pid, output: () => out });

  const waitForLog = async (pattern: RegExp, timeoutMs = 30_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    let done = false;
    void exited.then(() => (done = true));
    while (Date.now() < deadline) {
      const m = pattern.exec(out);
      if (m) return m[0];
      if (done) throw new Error(`${entry} exited before logging ${pattern}:\n${out.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${entry} did not log ${pattern} within ${timeoutMs} ms:\n${out.slice(-4000)}`);
  };

  return {
    entry,
    child,
    output: () => out,
    exited,
    waitForLog,
    async metricsPort(timeoutMs = 30_000) {
      const line = await waitForLog(/"metrics":"http:\/\/[^"]+:(\d+)\/metrics"/, timeoutMs);
      return Number(/:(\d+)\/metrics/.exec(line)?.[1]);
    },
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
