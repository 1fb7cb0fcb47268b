import assert from 'node:assert/strict';
import { test } from 'node:test';
import { questdbQuery } from '../helpers/questdb.js';
import { questdbServerSettings } from '../helpers/stack.js';

// The native stack passes stack/questdb/server.env to QuestDB (compose reads the same file): every
// setting in it is in effect on the running server. QDB_CAIRO_O3_PARTITION_SPLIT_MIN_SIZE is the
// property cairo.o3.partition.split.min.size.
test('every setting of stack/questdb/server.env is in effect on the running QuestDB', async () => {
  const settings = questdbServerSettings().map(({ env, value }) => ({ property: env.slice('QDB_'.length).toLowerCase().replaceAll('_', '.'), value }));
  assert.ok(settings.length > 0);
  const inList = settings.map((s) => `'${s.property}'`).join(', ');
  const rows = await questdbQuery(`select property_path, value from (show parameters) where property_path in (${inList})`);
  const running = new Map(rows.map((r) => [String(r['property_path']), String(r['value'])]));
  for (const { property, value } of settings) assert.equal(running.get(property), value, property);
});
