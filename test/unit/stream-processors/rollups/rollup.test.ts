import assert from 'node:assert/strict';
import { test } from 'node:test';
import { windowStartOf } from '../../../../lib/time.js';
import type { Candle } from '../../../../schemas/generated/types.js';
import { CandleProcessor, type CandleOutputs } from '../../../../stream-processors/candles/processor.js';
import type { TradeInput } from '../../../../stream-processors/candles/windows.js';
import { ROLLUP_INTERVALS, RollupProcessor, rollupStores, rollupWindow, type RollupOutputs } from '../../../../stream-processors/rollups/rollup.js';
import { TestDriver } from '../../../../stream-processors/runtime/test-driver.js';
import { Random } from '../../../../producers/simulator/random.js';
import { sessionFields } from '../../../../stream-processors/candles/sessions.js';
import { expectedSessionFields } from '../../../helpers/candles.js';

const S = 1_000_000;
// 2026-11-20 14:50 UTC = 23:50 KST: the run crosses midnight KST (15:00 UTC), the daily boundary.
const T0 = Date.parse('2026-11-20T14:50:00Z') * 1000;

const SESSION_DAY = ['PRE_MARKET', 'REGULAR', 'REGULAR', 'REGULAR', 'AFTER_MARKET', 'REGULAR', 'REGULAR'] as const;

interface Arrival { trade: TradeInput; at: number; late: boolean }

/**
 * Twenty minutes of trades of five symbols arriving up to 300 ms out of order (inside the 1 s grace),
 * every 97th one 5 s late (beyond it), and a quiet symbol that trades once, at the start.
 */
function trades(seed: number): Arrival[] {
  const rng = new Random(seed);
  const symbols = ['005930', '000660', '035720', '051910', '068270'];
  const seq = new Map<string, number>();
  const out: Arrival[] = [{ trade: { symbol: '999990', time: T0 + 500_000, sequence: 1, price: 1000, quantity: 7 }, at: T0 + 500_000, late: false }];
  for (let i = 0; i < 6_000; i++) {
    const symbol = symbols[rng.int(0, symbols.length)] as string;
    const s = (seq.get(symbol) ?? 0) + 1;
    seq.set(symbol, s);
    const time = T0 + S + i * 200_000;
    const late = i % 97 === 96;
    // The sessions of a KRX day in order (the regular session's closing print shares the 15 m and
    // longer windows with after-hours trading), and a stretch where two sessions trade at once.
    const session = SESSION_DAY[Math.floor((i / 6_000) * SESSION_DAY.length)] ?? 'REGULAR';
    const both = session === 'AFTER_MARKET' && rng.int(0, 2) === 0 ? 'CLOSING_PRICE' : session;
    out.push({ trade: { symbol, time, sequence: s, price: 50_000 + rng.int(-50, 50) * 10, quantity: rng.int(1, 300), session: both }, at: time + (late ? 5 * S : rng.int(0, 300_000)), late });
  }
  return out.sort((a, b) => a.at - b.at);
}

/** The plainest computation straight from the trades: group by symbol and window, order by (time, sequence). */
function expected(arrivals: readonly Arrival[], interval: (typeof ROLLUP_INTERVALS)[number]): Map<string, Omit<Candle, 'emittedAt' | 'isFinal' | 'interval' | 'vwap' | 'windowEnd'>> {
  const { sizeMicros, alignOffsetMicros } = rollupWindow(interval);
  const groups = new Map<string, TradeInput[]>();
  for (const a of arrivals) {
    if (a.late) continue;
    const key = `${a.trade.symbol}@${windowStartOf(a.trade.time, sizeMicros, alignOffsetMicros)}`;
    groups.set(key, [...(groups.get(key) ?? []), a.trade]);
  }
  const out = new Map();
  for (const [key, g] of groups) {
    g.sort((x, y) => x.time - y.time || x.sequence - y.sequence);
    out.set(key, {
      symbol: g[0]?.symbol, windowStart: Number(key.split('@')[1]),
      open: g[0]?.price, close: g[g.length - 1]?.price,
      high: Math.max(...g.map((t) => t.price)), low: Math.min(...g.map((t) => t.price)),
      volume: g.reduce((s, t) => s + t.quantity, 0), tradedValue: g.reduce((s, t) => s + t.price * t.quantity, 0), tradeCount: g.length,
      ...expectedSessionFields(g),
    });
  }
  return out;
}

/** Ticks → 1 s candles → roll-ups, each on its own driver; the roll-ups crash now and then when `faults`. */
function runChain(arrivals: readonly Arrival[], faults: boolean) {
  const rng = new Random(17);
  const seconds = new TestDriver<TradeInput, CandleOutputs>({ processor: () => new CandleProcessor({ interval: '1s', sizeMicros: S, graceMicros: S, updateIntervalMs: 250 }) });
  const rollups = new TestDriver<Candle, RollupOutputs>({ processor: () => new RollupProcessor({ graceMicros: 0, updateIntervalMs: 250 }), stores: rollupStores });
  let forwarded = 0;
  const pass = () => {
    const out = seconds.output('candles');
    for (const r of out.slice(forwarded)) {
      const c = r.value as Candle;
      rollups.pipe(0, c.symbol, c, RollupProcessor.timestamp(c));
      if (faults && rng.int(0, 50) === 0) rollups.commit();
      if (faults && rng.int(0, 400) === 0) rollups.crash();
    }
    forwarded = out.length;
  };
  for (const a of arrivals) {
    seconds.pipe(0, a.trade.symbol, a.trade, a.trade.time);
    pass();
  }
  seconds.advanceWallClock(5_000); // idle: the last 1 s windows close
  pass();
  rollups.advanceWallClock(25 * 3600_000, 60_000); // idle: stream time follows the wall clock past the day's end
  rollups.commit();
  return { seconds, rollups };
}

test('roll-ups equal an independent computation from the ticks: out-of-order and late ticks, a quiet symbol, the KST day boundary, crashes', () => {
  const arrivals = trades(3);
  const { seconds, rollups } = runChain(arrivals, true);
  assert.equal(seconds.late().length, arrivals.filter((a) => a.late).length, 'the 1 s stage routed exactly the late ticks');
  for (const iv of ROLLUP_INTERVALS) {
    const want = expected(arrivals, iv);
    const finals = new Map<string, Candle>();
    for (const r of rollups.output(iv, { committed: true })) {
      const c = r.value as Candle;
      assert.equal(c.interval, iv);
      if (!c.isFinal) continue;
      const key = `${c.symbol}@${c.windowStart}`;
      assert.ok(!finals.has(key), `${iv}: a second final for ${key}`);
      finals.set(key, c);
    }
    assert.equal(finals.size, want.size, `${iv}: one final per window`);
    for (const [key, e] of want) {
      const c = finals.get(key);
      assert.ok(c, `${iv}: missing ${key}`);
      const { emittedAt: _e, isFinal: _f, interval: _i, vwap: _v, windowEnd, ...got } = c;
      assert.deepEqual(got, e, `${iv} ${key}`);
      assert.equal(windowEnd - c.windowStart, rollupWindow(iv).sizeMicros);
    }
  }
  const days = [...expected(arrivals, '1d').keys()].filter((k) => k.startsWith('005930@'));
  assert.deepEqual(days.map((k) => new Date(Number(k.split('@')[1]) / 1000).toISOString()), ['2026-11-19T15:00:00.000Z', '2026-11-20T15:00:00.000Z'], 'days start at midnight KST');
  assert.ok(finals1m(rollups).has(`999990@${T0}`), 'the quiet symbol\'s minute closed while others traded');
});

test('in-progress roll-ups are marked and come at the update interval; stores hold open windows only', () => {
  const d = new TestDriver<Candle, RollupOutputs>({ processor: () => new RollupProcessor({ graceMicros: 0, updateIntervalMs: 250 }), stores: rollupStores, idleMs: 60_000 });
  const c = (sec: number, close: number): Candle => ({ symbol: '005930', interval: '1s', windowStart: T0 + sec * S, windowEnd: T0 + (sec + 1) * S, open: 100, high: 120, low: 90, close, volume: 10, tradedValue: 1000, tradeCount: 2, vwap: 100, isFinal: true, emittedAt: 0, ...sessionFields({}) });
  d.pipe(0, '005930', c(0, 101), T0);
  d.pipe(0, '005930', c(1, 102), T0 + S);
  assert.deepEqual(d.output('1m'), [], 'nothing before the update interval');
  d.advanceWallClock(250);
  const updates = d.output('1m').map((r) => r.value as Candle);
  assert.equal(updates.length, 1);
  assert.deepEqual({ isFinal: updates[0]?.isFinal, close: updates[0]?.close, volume: updates[0]?.volume }, { isFinal: false, close: 102, volume: 20 });
  assert.equal(d.store(0, 'rollup-1m').size, 1);
  d.pipe(0, '005930', c(60, 103), T0 + 60 * S); // the next minute's first second closes the first minute
  const finals = d.output('1m').map((r) => r.value as Candle).filter((x) => x.isFinal);
  assert.equal(finals.length, 1);
  assert.equal(d.store(0, 'rollup-1m').size, 1, 'the closed window left the store');
});

function finals1m(d: TestDriver<Candle, RollupOutputs>): Set<string> {
  return new Set(d.output('1m', { committed: true }).map((r) => r.value as Candle).filter((c) => c.isFinal).map((c) => `${c.symbol}@${c.windowStart}`));
}
