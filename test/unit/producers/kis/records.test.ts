import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseDataFrame } from '../../../../producers/kis/frame.js';
import { readOrderBook, readTick } from '../../../../producers/kis/records.js';
import { kstToUtcMicros } from '../../../../lib/time.js';
import { H0STASP0_2026, H0STCNT0_2026, H0UNASP0_2026 } from '../../../fakes/kis/layout.js';

const FRAMES = JSON.parse(readFileSync(new URL('../../../../../test/fixtures/kis/frames-2026.json', import.meta.url), 'utf8')) as Record<string, string>;
// Received after every fixture frame (2026-09-15 KST): an event cannot be stamped after its receipt.
const INGEST = kstToUtcMicros('20260916', '000000');
const frame = (name: string) => parseDataFrame(FRAMES[name] as string, () => undefined);
/** Field `name` of record 0, by the fake's own copy of the layout (not the producer's table). */
const field = (f: ReturnType<typeof frame>, layout: readonly string[], name: string) => f.fields[layout.indexOf(name)];

test('H0STCNT0 in the 47-field layout: MARKET_CLS_CODE gives the session (here after-market), the TR gives the venue', () => {
  const f = frame('H0STCNT0_47');
  assert.equal(f.width, 47);
  assert.equal(field(f, H0STCNT0_2026, 'MARKET_CLS_CODE'), '3');
  const t = readTick(f.fields, 0, INGEST, f);
  assert.equal(t.exchangeTime, kstToUtcMicros('20260915', '170502'));
  assert.equal(t.venue, 'KRX');
  assert.equal(t.marketSession, 'AFTER_MARKET');
  assert.equal(t.sessionCode, '30');
  assert.equal(t.sequence, 9_694_968);
});

test('H0NXCNT0 (NXT only) and H0UNCNT0 (integrated, two records) in the 47-field layout', () => {
  const n = frame('H0NXCNT0_47');
  const nt = readTick(n.fields, 0, INGEST, n);
  assert.deepEqual([nt.venue, nt.marketSession, nt.cumulativeVolume, nt.quantity], ['NXT', 'PRE_MARKET', 120_035, 7]);
  const u = frame('H0UNCNT0_47x2');
  assert.equal(u.count, 2);
  const ticks = [0, 1].map((i) => readTick(u.fields, i * u.width, INGEST, u));
  assert.deepEqual(ticks.map((t) => [t.venue, t.marketSession, t.price, t.side, t.sequence]), [
    ['INTEGRATED', 'REGULAR', 62_700, 'BUY', 9_700_001],
    ['INTEGRATED', 'REGULAR', 62_600, 'SELL', 9_700_004],
  ]);
});

test('H0STASP0 in the 63-field layout (MARKET_CLS_CODE last), H0UNASP0 in 66 and H0NXASP0 in 65 fields', () => {
  const k = frame('H0STASP0_63');
  assert.equal(k.width, 63);
  assert.equal(field(k, H0STASP0_2026, 'MARKET_CLS_CODE'), '3');
  const kb = readOrderBook(k.fields, 0, '20260915', INGEST, () => 1, k);
  assert.deepEqual([kb.venue, kb.marketSession, kb.askPrices[0], kb.bidPrices[9], kb.cumulativeVolume], ['KRX', 'AFTER_MARKET', 62_800, 61_800, 9_731_002]);

  const u = frame('H0UNASP0_66');
  assert.equal(u.width, 66);
  assert.equal(field(u, H0UNASP0_2026, 'NMID_PRC'), '62750');
  const ub = readOrderBook(u.fields, 0, '20260915', INGEST, () => 1, u);
  assert.deepEqual([ub.venue, ub.marketSession, ub.askQuantities[9], ub.totalBidQuantity], ['INTEGRATED', 'UNKNOWN', 100, 560]);

  const n = frame('H0NXASP0_65');
  const nb = readOrderBook(n.fields, 0, '20260915', INGEST, () => 1, n);
  assert.deepEqual([nb.venue, nb.exchangeTime], ['NXT', kstToUtcMicros('20260915', '083001')]);
});
