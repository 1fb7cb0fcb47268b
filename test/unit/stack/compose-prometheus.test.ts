import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../helpers/stack.js';

/** The services of docker-compose.yml that serve /metrics, as "name:port". */
function composeServices(): string[] {
  const compose = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
  const out: string[] = [];
  // A top-level service is a two-space-indented key; its METRICS_PORT follows within its block.
  for (const block of compose.split(/\n(?= {2}[a-z][a-z0-9-]*:\n)/)) {
    const name = /^ {2}([a-z][a-z0-9-]*):\n/.exec(block)?.[1];
    const port = /METRICS_PORT: "?(\d+)"?/.exec(block)?.[1];
    if (name && port) out.push(`${name}:${port}`);
  }
  return out.sort();
}

test('the compose Prometheus scrapes exactly the compose services that serve metrics', () => {
  const prom = readFileSync(join(REPO_ROOT, 'stack', 'prometheus', 'prometheus.compose.yml'), 'utf8');
  const job = prom.slice(prom.indexOf('job_name: kmarket'));
  const targets = [...job.matchAll(/targets: \["([a-z0-9-]+:\d+)"\]/g)].map((m) => m[1] as string).sort();
  const services = composeServices();
  assert.ok(services.length >= 3, `found the services in docker-compose.yml: ${services.join(', ')}`);
  assert.deepEqual(targets, services);
});
