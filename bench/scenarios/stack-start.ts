import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers/stack.js';
import type { BenchFigure, BenchScenario } from '../harness.js';

const repo = REPO_ROOT;

/** A second stack on other ports, in its own state and server-cache folders, so the running one is untouched. */
const PORTS = {
  KAFKA_PORT: '19092', KAFKA_CONTROLLER_PORT: '19093', REGISTRY_PORT: '18081', REGISTRY_MANAGEMENT_PORT: '19001',
  QUESTDB_HTTP_PORT: '19000', QUESTDB_MIN_HTTP_PORT: '19003', QUESTDB_PG_PORT: '18812', QUESTDB_ILP_TCP_PORT: '19009',
  POSTGRES_PORT: '15433', PROMETHEUS_PORT: '19090',
};

function timedUp(env: NodeJS.ProcessEnv): { total: number; servers: Record<string, number>; output: string } {
  const t0 = process.hrtime.bigint();
  const output = execFileSync('bash', [join(repo, 'stack', 'stack.sh'), 'up'], { env, encoding: 'utf8' });
  const total = Number(process.hrtime.bigint() - t0) / 1e9;
  const servers: Record<string, number> = {};
  for (const m of output.matchAll(/^(\w+)\s+started in ([\d.]+)s/gm)) servers[m[1] as string] = Number(m[2]);
  process.stdout.write(output);
  return { total, servers, output };
}

export const scenario: BenchScenario = {
  name: 'stack-start',
  description:
    'Time for `npm run stack -- up` until every server is healthy: cold (fresh data folders and an empty ' +
    'server cache, so Kafka libs are copied out of ~/.m2, Apicurio untarred, Kafka storage formatted, ' +
    'Postgres initdb) and warm (stopped, then started again). ~/.m2 is warm in both: a first-ever run also downloads ≈ 210 MB from Maven Central.',
  needsStack: false,
  async run(): Promise<BenchFigure[]> {
    const home = mkdtempSync(join(os.tmpdir(), 'kmarket-bench-stack-'));
    chmodSync(home, 0o755); // the Postgres cluster runs as the postgres user, which must reach its folder
    const env = { ...process.env, ...PORTS, KMARKET_STACK_HOME: join(home, 'state'), XDG_CACHE_HOME: join(home, 'cache') };
    try {
      const cold = timedUp(env);
      execFileSync('bash', [join(repo, 'stack', 'stack.sh'), 'down'], { env, stdio: 'inherit' });
      const warm = timedUp(env);
      const figures: BenchFigure[] = [
        { name: 'cold start, all servers healthy', value: cold.total, unit: 's', notes: Object.entries(cold.servers).map(([k, v]) => `${k} ${v}s`).join(', ') },
        { name: 'warm start, all servers healthy', value: warm.total, unit: 's', notes: Object.entries(warm.servers).map(([k, v]) => `${k} ${v}s`).join(', ') },
      ];
      return figures;
    } finally {
      execFileSync('bash', [join(repo, 'stack', 'stack.sh'), 'down'], { env, stdio: 'inherit' });
      rmSync(home, { recursive: true, force: true });
    }
  },
};
