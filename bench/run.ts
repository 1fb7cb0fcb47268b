/**
 * Runs benchmark scenarios and rewrites BENCHMARKS.md with their figures.
 *   npm run bench                 all scenarios
 *   npm run bench -- slice-10k    only the named ones
 *   npm run bench -- --render     only rewrite BENCHMARKS.md from bench/results.json
 * Results of scenarios not run this time are kept from the previous BENCHMARKS.md (bench/results.json).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { meetsTarget, type BenchFigure, type BenchScenario } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const resultsFile = join(repo, 'bench', 'results.json');

interface StoredResult {
  scenario: string;
  description: string;
  ranAt: string;
  machine: string;
  figures: BenchFigure[];
  error?: string;
}

const scenarios: BenchScenario[] = [];
for (const f of readdirSync(join(here, 'scenarios')).filter((f) => f.endsWith('.js')).sort()) {
  const mod = (await import(pathToFileURL(join(here, 'scenarios', f)).href)) as { scenario: BenchScenario };
  scenarios.push(mod.scenario);
}
// --render: rewrite BENCHMARKS.md from bench/results.json without running anything (after a merge).
const renderOnly = process.argv.includes('--render');
const wanted = process.argv.slice(2).filter((a) => a !== '--render');
const unknown = wanted.filter((w) => !scenarios.some((s) => s.name === w));
if (unknown.length > 0) {
  console.error(`unknown scenario(s) ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const selected = renderOnly ? [] : wanted.length > 0 ? scenarios.filter((s) => wanted.includes(s.name)) : scenarios;

const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const stored: StoredResult[] = existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as StoredResult[]) : [];

if (selected.some((s) => s.needsStack)) {
  console.log('== native stack: up ==');
  execFileSync('bash', [join(repo, 'stack', 'stack.sh'), 'up'], { stdio: 'inherit' });
}

let failed = false;
for (const s of selected) {
  console.log(`\n== bench: ${s.name} — ${s.description} ==`);
  const result: StoredResult = { scenario: s.name, description: s.description, ranAt: new Date().toISOString(), machine, figures: [] };
  try {
    result.figures = await s.run();
    for (const f of result.figures) {
      const ok = meetsTarget(f);
      console.log(`  ${f.name}: ${f.value} ${f.unit}${f.target !== undefined ? ` (target ${f.higherIsBetter === false ? '≤' : '≥'} ${f.target}: ${ok ? 'met' : 'NOT met'})` : ''}`);
    }
  } catch (err) {
    failed = true;
    result.error = (err as Error).stack ?? String(err);
    console.error(`  failed: ${result.error}`);
  }
  const i = stored.findIndex((r) => r.scenario === s.name);
  if (i >= 0) stored[i] = result;
  else stored.push(result);
}
stored.sort((a, b) => a.scenario.localeCompare(b.scenario));
writeFileSync(resultsFile, `${JSON.stringify(stored, null, 2)}\n`);

const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(Math.round(v * 100) / 100));
const lines = [
  '# Benchmarks',
  '',
  'Written by `npm run bench` (bench/run.ts); one scenario per file in bench/scenarios/. Run one with',
  '`npm run bench -- <scenario>`. Figures are from the machine named in each section: a 2-core box that',
  'runs Kafka, the registry, QuestDB, Postgres and Prometheus beside the services being measured.',
  '',
];
for (const r of stored) {
  lines.push(`## ${r.scenario}`, '', r.description, '', `Ran ${r.ranAt} on ${r.machine}. Command: \`npm run bench -- ${r.scenario}\``, '');
  if (r.error) {
    lines.push('**Failed:**', '', '```', r.error.split('\n').slice(0, 8).join('\n'), '```', '');
    continue;
  }
  lines.push('| figure | value | target | met |', '|---|---|---|---|');
  for (const f of r.figures) {
    const ok = meetsTarget(f);
    lines.push(`| ${f.name} | ${fmt(f.value)} ${f.unit} | ${f.target === undefined ? '' : `${f.higherIsBetter === false ? '≤' : '≥'} ${fmt(f.target)} ${f.unit}`} | ${ok === undefined ? '' : ok ? 'yes' : '**no**'} |`);
  }
  const notes = r.figures.filter((f) => f.notes).map((f) => `- ${f.name}: ${f.notes}`);
  if (notes.length > 0) lines.push('', ...notes);
  lines.push('');
}
writeFileSync(join(repo, 'BENCHMARKS.md'), lines.join('\n'));
console.log('\nwrote BENCHMARKS.md');
process.exit(failed ? 1 : 0);
