import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDataFrame } from '../../../../producers/kis/frame.js';
import { kstDateOf, readOrderBook, readTick } from '../../../../producers/kis/records.js';
import { generateListings } from '../../../../producers/simulator/listings.js';
import { MarketSimulator } from '../../../../producers/simulator/market.js';
import { KisRecordFormatter } from '../../../fakes/kis/format.js';
import { H0STASP0, H0STCNT0, H0UNASP0 } from '../../../fakes/kis/layout.js';

const S = 1_000_000;
const start = Date.parse('2026-11-20T10:00:00+09:00') * 1000;

function market(seconds: number) {
  const listings = generateListings(30, 3);
  const sim = new MarketSimulator({ listings, seed: 3, ticksPerSecond: 500, mode: 'always', orderBooks: true });
  const ticks = [];
  const books = [];
  for (let s = 0; s < seconds; s++) {
    const e = sim.advance(start + s * S, start + (s + 1) * S);
    ticks.push(...e.ticks);
    books.push(...e.books);
  }
  return { listings, ticks, books };
}

test("the fake's H0STCNT0 records have the reference's 46 fields, and read back to the simulator's trades", () => {
  const { listings, ticks } = market(5);
  const fmt = new KisRecordFormatter(listings);
  assert.ok(ticks.length > 2000);
  let negatives = 0;
  for (const t of ticks) {
    const record = fmt.trade(t);
    const fields = record.split('^');
    assert.equal(fields.length, 46);
    // Only MRKT_TRTM_CLS_CODE is empty, as in the recorded frame.
    assert.deepEqual(fields.flatMap((f, i) => (f === '' ? [H0STCNT0[i]] : [])), ['MRKT_TRTM_CLS_CODE']);
    if (fields.some((f) => /^-\d/.test(f))) negatives++;
    const frame = parseDataFrame(`0|H0STCNT0|001|${record}`, () => undefined);
    const back = readTick(frame.fields, 0, t.ingestTime);
    assert.deepEqual(back, {
      ...t,
      exchangeTime: Math.floor(t.exchangeTime / S) * S, // KIS sends whole seconds
      sequence: t.cumulativeVolume,
      source: 'KIS',
    });
  }
  assert.ok(negatives > 100, 'negative numbers are written with a minus sign');
});

test("the fake's H0STASP0 (59) and H0UNASP0 (65) records read back to the simulator's order books", () => {
  const { listings, books } = market(2);
  const fmt = new KisRecordFormatter(listings);
  for (const b of books.slice(0, 500)) {
    for (const [combined, layout] of [[false, H0STASP0], [true, H0UNASP0]] as const) {
      const record = fmt.book(b, combined);
      const fields = record.split('^');
      assert.equal(fields.length, layout.length);
      assert.ok(fields.every((f) => f !== ''), 'every book field is filled');
      const frame = parseDataFrame(`0|${combined ? 'H0UNASP0' : 'H0STASP0'}|001|${record}`, () => undefined);
      const back = readOrderBook(frame.fields, 0, kstDateOf(b.exchangeTime), b.ingestTime, () => b.sequence);
      // The old layouts carry no session; venue is the TR's (this reads both as H0STASP0).
      assert.deepEqual(back, { ...b, exchangeTime: Math.floor(b.exchangeTime / S) * S, source: 'KIS', marketSession: 'UNKNOWN' });
    }
  }
});
