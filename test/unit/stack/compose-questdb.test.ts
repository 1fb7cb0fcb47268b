import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { questdbServerSettings, REPO_ROOT } from '../../helpers/stack.js';

// stack/questdb/server.env holds the QuestDB settings of every deployment; the native stack reads it
// (test/integration/questdb-settings.test.ts checks the running server) and so must compose.
test('the compose QuestDB reads the settings file the native stack reads', () => {
  const compose = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
  // A top-level service is a two-space-indented key.
  const service = compose.split(/\n(?= {2}[a-z][a-z0-9-]*:\n)/).find((b) => b.startsWith('  questdb:\n'));
  assert.ok(service, 'docker-compose.yml has a questdb service');
  assert.match(service, /\n {4}env_file: \.\/stack\/questdb\/server\.env(\s|$)/);
  const settings = questdbServerSettings();
  assert.ok(settings.length > 0, 'the file sets something');
  for (const { env } of settings) assert.ok(!service.includes(`${env}:`), `${env} is set in one place only`);
});
