import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicCatalogue } from '../../lib/topics.js';
import type { Tick } from '../../schemas/generated/types.js';
import { IlpBuffer } from '../../sinks/questdb/ilp.js';
import { IlpHttpWriter, questdbExec } from '../../sinks/questdb/questdb-http.js';
import { questdbMappings } from '../../sinks/questdb/tables.js';
import { questdbQuery } from '../helpers/questdb.js';
import { freshNamespace, stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// KRX and NXT each count a symbol's cumulative volume (the tick's sequence), so two trades of one
// symbol on the two venues can share the second and the sequence: the ticks table's DEDUP key must
// keep both, and still collapse a trade delivered twice.
test('the ticks table keeps a KRX and an NXT trade with the same second and sequence, and writes a repeated one once', async () => {
  const ns = freshNamespace('venue');
  const table = `${ns.tablePrefix}ticks`;
  const topics = topicCatalogue('unused.', 1);
  const mapping = questdbMappings(topics, ns.tablePrefix).get(topics.ticks.name);
  assert.ok(mapping);
  const url = stackEnv().QUESTDB_HTTP_URL;
  await questdbExec(url, mapping.ddl);
  const krx: Tick = {
    symbol: '005930', exchangeTime: Date.UTC(2026, 11, 1, 2, 0, 1) * 1000, ingestTime: Date.UTC(2026, 11, 1, 2, 0, 1, 5) * 1000,
    price: 62_700, quantity: 10, side: 'BUY', cumulativeVolume: 1_000, cumulativeValue: 62_700_000, sequence: 1_000,
    source: 'KIS', sessionCode: '20', halted: false, venue: 'KRX', marketSession: 'REGULAR',
  };
  const nxt: Tick = { ...krx, price: 62_800, venue: 'NXT' };
  // The sink's own encoder and transport, as it writes these rows.
  const ilp = new IlpBuffer();
  for (const t of [krx, nxt, krx]) mapping.encoder.encode(t, ilp);
  await new IlpHttpWriter(url).post(ilp.bytes());
  const rows = await waitFor('the rows applied', async () => {
    const r = await questdbQuery(`select venue, price from "${table}" order by venue`);
    return r.length > 0 ? r : undefined;
  }, { timeoutMs: 30_000 });
  assert.deepEqual(rows, [{ venue: 'KRX', price: 62_700 }, { venue: 'NXT', price: 62_800 }]);
});
