import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { questdbQuery } from '../helpers/questdb.js';
import { questdbServerSettings, stackHome } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// QDB_LOG_* keys configure QuestDB's log writers, which are not server properties: the second test
// checks them by what the log holds.
const isLogSetting = (env: string) => env.startsWith('QDB_LOG_');

// The native stack passes stack/questdb/server.env to QuestDB (compose reads the same file): every
// setting in it is in effect on the running server. QDB_CAIRO_O3_PARTITION_SPLIT_MIN_SIZE is the
// property cairo.o3.partition.split.min.size.
test('every setting of stack/questdb/server.env is in effect on the running QuestDB', async () => {
  const settings = questdbServerSettings()
    .filter(({ env }) => !isLogSetting(env))
    .map(({ env, value }) => ({ property: env.slice('QDB_'.length).toLowerCase().replaceAll('_', '.'), value }));
  assert.ok(settings.length > 0);
  const inList = settings.map((s) => `'${s.property}'`).join(', ');
  const rows = await questdbQuery(`select property_path, value from (show parameters) where property_path in (${inList})`);
  const running = new Map(rows.map((r) => [String(r['property_path']), String(r['value'])]));
  for (const { property, value } of settings) assert.equal(running.get(property), value, property);
});

// QuestDB logs a finished query at INFO and a failed one at ERROR, each with its SQL. The log is
// written in order, so once the failed query is there, the finished one would be before it.
test('QuestDB logs the levels stack/questdb/server.env names for its log, and no others', async () => {
  const setting = questdbServerSettings().find(({ env }) => env === 'QDB_LOG_W_STDOUT_LEVEL');
  assert.ok(setting, 'server.env sets QDB_LOG_W_STDOUT_LEVEL');
  const levels = new Set(setting.value.split(','));
  assert.ok(levels.has('ERROR') && levels.has('CRITICAL'), 'errors stay in the log');
  const log = join(stackHome(), 'questdb', 'questdb.log');
  const from = statSync(log).size;
  const id = randomBytes(4).toString('hex');
  await questdbQuery(`select 'log-check-finished-${id}' marker from long_sequence(1)`);
  await assert.rejects(questdbQuery(`select * from "log-check-failed-${id}"`), /does not exist/);
  const logged = await waitFor('the failed query in the QuestDB log', () => {
    const text = readFileSync(log).subarray(from).toString('utf8');
    return text.includes(`log-check-failed-${id}`) ? text : undefined;
  });
  assert.equal(logged.includes(`log-check-finished-${id}`), levels.has('INFO'), `INFO lines should be ${levels.has('INFO') ? 'kept' : 'dropped'}`);
});
