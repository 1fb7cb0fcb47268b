import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Candle, Features, Indicators } from '../../../../schemas/generated/types.js';
import { stepBar } from '../../../../stream-processors/indicators/features.js';
import { newIndicatorState, stepIndicators } from '../../../../stream-processors/indicators/indicators.js';
import { IndicatorProcessor, indicatorStores, type IndicatorOutputs } from '../../../../stream-processors/indicators/processor.js';
import { TestDriver } from '../../../../stream-processors/runtime/test-driver.js';
import { Random } from '../../../../producers/simulator/random.js';
import { sessionFields } from '../../../../stream-processors/candles/sessions.js';
import { indicatorStateBeforeFeatures, talibFixture } from '../../../helpers/talib-fixture.js';

const M = 60_000_000;
const T0 = Date.parse('2026-11-20T00:00:00Z') * 1000;

function candles(symbol: string, n: number, seed: number): Candle[] {
  const rng = new Random(seed);
  let price = 50_000;
  return Array.from({ length: n }, (_, i) => {
    const open = price;
    price = Math.max(100, price + rng.int(-10, 10) * 50);
    const high = Math.max(open, price) + rng.int(0, 5) * 50;
    const low = Math.min(open, price) - rng.int(0, 5) * 50;
    const volume = rng.int(1, 1000);
    return { symbol, interval: '1m', windowStart: T0 + i * M, windowEnd: T0 + (i + 1) * M, open, high, low, close: price, volume, tradedValue: volume * price, tradeCount: 3, vwap: price, isFinal: true, emittedAt: 0, ...sessionFields({}) };
  });
}

const driver = () => new TestDriver<Candle, IndicatorOutputs>({ processor: () => new IndicatorProcessor(), stores: indicatorStores });
const values = (r: { value: unknown }) => {
  const { emittedAt: _e, ...rest } = r.value as Indicators;
  return rest;
};

test('final candles: one record per bar with the values of an uninterrupted computation, across crashes and restores', () => {
  const a = candles('005930', 260, 1);
  const b = candles('000660', 260, 2);
  const rng = new Random(4);
  const d = driver();
  for (let i = 0; i < a.length; i++) {
    for (const c of [a[i], b[i]] as Candle[]) d.pipe(0, c.symbol, c, IndicatorProcessor.timestamp(c));
    if (rng.int(0, 5) === 0) d.commit();
    if (rng.int(0, 40) === 0) d.crash();
  }
  d.commit();
  for (const series of [a, b]) {
    const state = newIndicatorState();
    const want = series.map((c) => stepIndicators(state, c, true));
    const got = d.output('indicators', { committed: true }).map(values).filter((v) => v.symbol === series[0]?.symbol);
    assert.equal(got.length, series.length, 'exactly one record per final bar');
    got.forEach((g, i) => {
      assert.equal(g.windowStart, series[i]?.windowStart);
      assert.equal(g.isFinal, true);
      const { symbol: _s, interval: _i, windowStart: _w, windowEnd: _we, close: _c, isFinal: _f, ...v } = g;
      assert.deepEqual(v, want[i]);
    });
  }
  const last = d.output('indicators').at(-1)?.value as Indicators;
  assert.ok(last.sma200 !== null && last.macdSignal !== null && last.stochD !== null, 'warmed up after 260 bars');
  const first = d.output('indicators', { committed: true })[0]?.value as Indicators;
  assert.deepEqual([first.sma5, first.ema12, first.rsi14, first.atr14, first.macd], [null, null, null, null, null], 'absent, not zero, before warm-up');
});

test('an in-progress candle gives provisional values marked as such and leaves the state alone; a repeated final is late', () => {
  const [c0, c1, c2] = candles('005930', 3, 9) as [Candle, Candle, Candle];
  const d = driver();
  d.pipe(0, c0.symbol, c0, IndicatorProcessor.timestamp(c0));
  const provisional = { ...c1, isFinal: false, close: c1.close + 500 };
  d.pipe(0, c1.symbol, provisional, IndicatorProcessor.timestamp(provisional));
  d.pipe(0, c1.symbol, c1, IndicatorProcessor.timestamp(c1));
  const out = d.output('indicators').map((r) => r.value as Indicators);
  assert.deepEqual(out.map((v) => [v.windowStart, v.isFinal, v.close]), [[c0.windowStart, true, c0.close], [c1.windowStart, false, c1.close + 500], [c1.windowStart, true, c1.close]]);
  const state = newIndicatorState();
  stepIndicators(state, c0, true);
  assert.equal(out[2]?.vwap, stepIndicators(state, c1, true).vwap, 'the final bar is computed from a state the provisional one did not touch');
  assert.equal(d.pipe(0, c1.symbol, c1, IndicatorProcessor.timestamp(c1)), 'late');
  assert.equal(d.pipe(0, c2.symbol, c2, IndicatorProcessor.timestamp(c2)), 'accepted');
});

test('features: one record per final bar beside the indicators, equal to stepBar, across crashes; provisional ones marked', () => {
  const a = candles('005930', 120, 5);
  const rng = new Random(6);
  const d = driver();
  for (const c of a) {
    if (rng.int(0, 4) === 0) {
      const provisional = { ...c, isFinal: false, close: c.close + 50, high: c.high + 50 };
      d.pipe(0, c.symbol, provisional, IndicatorProcessor.timestamp(provisional));
    }
    d.pipe(0, c.symbol, c, IndicatorProcessor.timestamp(c));
    if (rng.int(0, 5) === 0) d.commit();
    if (rng.int(0, 30) === 0) d.crash();
  }
  d.commit();
  const state = newIndicatorState();
  const want = a.map((c) => stepBar(state, c, true).features);
  const out = d.output('features', { committed: true }).map((r) => r.value as Features);
  const finals = out.filter((f) => f.isFinal);
  assert.equal(finals.length, a.length, 'exactly one final record per bar');
  assert.ok(out.length > finals.length, 'provisional records too');
  finals.forEach((f, i) => {
    const { symbol, interval, windowStart, windowEnd, close, volume, isFinal: _f, emittedAt: _e, ...values } = f;
    assert.deepEqual([symbol, interval, windowStart, windowEnd, close, volume], [a[i]?.symbol, '1m', a[i]?.windowStart, a[i]?.windowEnd, a[i]?.close, a[i]?.volume]);
    assert.deepEqual(values, want[i]);
  });
  const indicatorRecords = d.output('indicators', { committed: true });
  assert.equal(indicatorRecords.length, out.length, 'an indicators record for every features record');
});

test('a changelog value written before features existed (commit 6110fd3) is restored and the symbol continues, features warmed up', () => {
  const old = indicatorStateBeforeFeatures();
  const fixture = talibFixture();
  const series: Candle[] = fixture.bars.map((b, i) => ({ symbol: '005930', interval: '1m', windowStart: T0 + i * M, windowEnd: T0 + (i + 1) * M, open: b.close, high: b.high, low: b.low, close: b.close, volume: b.volume, tradedValue: b.tradedValue, tradeCount: 1, vwap: b.close, isFinal: true, emittedAt: 0, ...sessionFields({}) }));
  const d = driver();
  // The runtime's restore path: the changelog record's bytes, decoded by the store's own spec.
  d.store(0, 'indicators').restore('005930', Buffer.from(old.changelogValue));
  for (const c of series.slice(old.bars, old.bars + 30)) d.pipe(0, c.symbol, c, IndicatorProcessor.timestamp(c));
  d.commit();
  d.crash();
  for (const c of series.slice(old.bars + 30)) d.pipe(0, c.symbol, c, IndicatorProcessor.timestamp(c));
  d.commit();
  const state = newIndicatorState();
  const want = series.map((c) => stepBar(state, c, true));
  const features = d.output('features', { committed: true }).map((r) => r.value as Features);
  const indicators = d.output('indicators', { committed: true }).map(values);
  assert.equal(features.length, series.length - old.bars);
  features.forEach((f, j) => {
    const i = old.bars + j;
    const { change, changePct, volumeRatio, volatility20, bollingerPosition } = f;
    assert.deepEqual({ change, changePct, volumeRatio, volatility20, bollingerPosition }, want[i]?.features, `features of bar ${i}`);
    const { symbol: _s, interval: _i, windowStart: _w, windowEnd: _we, close: _c, isFinal: _f, ...v } = indicators[j] as ReturnType<typeof values>;
    assert.deepEqual(v, want[i]?.indicators, `indicators of bar ${i}`);
  });
  assert.ok(features[0] && Object.values(features[0]).every((v) => v !== null), 'no warm-up again after the restore');
});

test('with features off (INDICATOR_FEATURES=false) the indicators are the same and no features are forwarded', () => {
  const a = candles('005930', 40, 7);
  const on = driver();
  const off = new TestDriver<Candle, IndicatorOutputs>({ processor: () => new IndicatorProcessor({ features: false }), stores: indicatorStores });
  for (const c of a) for (const d of [on, off]) d.pipe(0, c.symbol, c, IndicatorProcessor.timestamp(c));
  assert.deepEqual(off.output('indicators').map(values), on.output('indicators').map(values));
  assert.equal(off.output('features').length, 0);
  assert.equal(on.output('features').length, a.length);
});
