#!/usr/bin/env node
// Runs the compiled tests with node:test. Unit tests first (in parallel), then integration tests
// one file at a time against the native stack, which this script starts if it is not running, then
// the three-broker failover test on a cluster of its own.
// Usage: node scripts/run-tests.mjs [unit|integration|cluster|all] [name-filter] (all: the three, in that order)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const which = process.argv[2] ?? 'all';
const filter = process.argv[3];

function find(dir) {
  let out = [];
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    // The filter matches the path inside dist/test only: a clone in a folder named like a test (wt-krx)
    // must not select every file, including the ones that kill the shared servers.
    else if (e.endsWith('.test.js') && (!filter || relative(join(root, 'dist', 'test'), p).includes(filter))) out.push(p);
  }
  return out.sort();
}

function run(label, files, extra) {
  if (files.length === 0) {
    console.log(`no ${label} tests matched`);
    return 0;
  }
  console.log(`\n== ${label} tests: ${files.length} file(s) ==`);
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...extra, ...files.map((f) => relative(root, f))], {
    cwd: root,
    stdio: 'inherit',
  });
  return r.status ?? 1;
}

let status = 0;
if (which === 'unit' || which === 'all') {
  status = run('unit', find(join(root, 'dist', 'test', 'unit')), []);
}
if (which === 'integration' || which === 'all') {
  console.log('\n== native stack: up (idempotent) ==');
  const up = spawnSync('bash', [join(root, 'stack', 'stack.sh'), 'up'], { cwd: root, stdio: 'inherit' });
  if (up.status !== 0) {
    console.error('the native stack did not start; integration tests cannot run');
    process.exit(up.status ?? 1);
  }
  // One file at a time: they share two cores with Kafka, QuestDB and the registry.
  const integration = run('integration', find(join(root, 'dist', 'test', 'integration')), ['--test-concurrency=1', '--test-timeout=900000']);
  status = status || integration;
}
// A three-broker cluster of its own, killed under load: heavy (three more JVMs), so after the rest.
// It failed 1 run in 5 until PARTITION_IDLE_MS became 30 s (a stalled producer's held ticks came out
// late); 8 runs in a row green since, and now part of `npm test`.
if (which === 'cluster' || which === 'all') {
  const up = spawnSync('bash', [join(root, 'stack', 'stack.sh'), 'up'], { cwd: root, stdio: 'inherit' });
  if (up.status !== 0) process.exit(up.status ?? 1);
  const cluster = run('cluster', find(join(root, 'dist', 'test', 'cluster')), ['--test-concurrency=1', '--test-timeout=900000']);
  status = status || cluster;
}
process.exit(status);
