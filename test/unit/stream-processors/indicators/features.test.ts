import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stepBar, type FeatureValues } from '../../../../stream-processors/indicators/features.js';
import { newIndicatorState, stepIndicators, type Bar } from '../../../../stream-processors/indicators/indicators.js';
import { referenceFeatures, sameFeature, type ReferenceInputs } from '../../../helpers/features.js';
import { indicatorStateBeforeFeatures, talibFixture } from '../../../helpers/talib-fixture.js';

const fixture = talibFixture();
const T0 = Date.parse('2026-11-20T00:00:00Z') * 1000;
const bars: Bar[] = fixture.bars.map((b, i) => ({ ...b, windowStart: T0 + i * 60_000_000 }));

const reference = (history: readonly Bar[], given?: ReferenceInputs) => referenceFeatures(history, history.length - 1, given);

function assertFeatures(got: FeatureValues, want: FeatureValues, where: string): void {
  for (const k of Object.keys(want) as Array<keyof FeatureValues>) assert.ok(sameFeature(got[k], want[k]), `${where} ${k}: ${got[k]} vs ${want[k]}`);
}

test('every feature equals a recomputation over the whole history (bands and volume SMA from TA-Lib), null before its warm-up', () => {
  const state = newIndicatorState();
  const taLib = (name: string, i: number) => fixture.expected[name]?.[i] ?? null;
  let compared = 0;
  bars.forEach((bar, i) => {
    const { features } = stepBar(state, bar, true);
    assertFeatures(features, reference(bars.slice(0, i + 1), { bbUpper: taLib('bbUpper', i), bbLower: taLib('bbLower', i), volumeSma20: taLib('volumeSma20', i) }), `bar ${i}`);
    compared++;
  });
  assert.equal(compared, 400);
  const rows = (() => {
    const s = newIndicatorState();
    return bars.map((b) => stepBar(s, b, true).features);
  })();
  // Warm-ups: the first change needs a previous close; the ratio and %b 20 bars; the volatility 20 returns (21 closes).
  const firstNonNull = (k: keyof FeatureValues) => rows.findIndex((r) => r[k] !== null);
  assert.deepEqual([firstNonNull('change'), firstNonNull('changePct'), firstNonNull('volumeRatio'), firstNonNull('bollingerPosition'), firstNonNull('volatility20')], [1, 1, 19, 19, 20]);
  // The fixture's flat stretch (bars 150..169 at one price): flat bands have no %b, zero returns a real 0 volatility.
  assert.equal(rows[169]?.bollingerPosition, null, 'flat bands: division by zero is null');
  assert.equal(rows[169]?.volatility20, 0, 'twenty zero returns: a volatility of 0, not null');
  assert.equal(rows[160]?.change, 0);
});

test('an in-progress bar gives provisional features against the last final close, and leaves the state alone', () => {
  const state = newIndicatorState();
  bars.forEach((bar, i) => {
    if (i % 3 === 1) {
      const provisional = { ...bar, close: bar.close + 300, high: bar.high + 300, volume: bar.volume + 7 };
      const before = JSON.stringify(state);
      const { features } = stepBar(state, provisional, false);
      assert.equal(JSON.stringify(state), before, 'state untouched');
      assertFeatures(features, reference([...bars.slice(0, i), provisional]), `provisional ${i}`);
    }
    assertFeatures(stepBar(state, bar, true).features, reference(bars.slice(0, i + 1)), `final ${i}`);
  });
});

test('the indicators of stepBar are exactly those of stepIndicators', () => {
  const a = newIndicatorState();
  const b = newIndicatorState();
  for (const bar of bars) assert.deepEqual(stepBar(a, bar, true).indicators, stepIndicators(b, bar, true));
  assert.deepEqual(a, b);
});

test('division by zero gives null: no volume in 20 bars, no ratio', () => {
  const s = newIndicatorState();
  const quiet = (i: number): Bar => ({ windowStart: T0 + i * 1_000_000, high: 1000 + i, low: 1000 + i, close: 1000 + i, volume: 0, tradedValue: 0 });
  let last: FeatureValues | undefined;
  for (let i = 0; i < 25; i++) last = stepBar(s, quiet(i), true).features;
  assert.equal(last?.volumeRatio, null);
  assert.ok(last?.bollingerPosition !== null && last?.volatility20 !== null, 'the other features are defined');
});

test('a state written before features existed (commit 6110fd3) restores and continues exactly', () => {
  const old = indicatorStateBeforeFeatures();
  const restored = JSON.parse(old.changelogValue) as ReturnType<typeof newIndicatorState>;
  const uninterrupted = newIndicatorState();
  for (const bar of bars.slice(0, old.bars)) stepIndicators(uninterrupted, bar, true);
  bars.slice(old.bars).forEach((bar, j) => {
    const i = old.bars + j;
    const got = stepBar(restored, bar, true);
    assert.deepEqual(got.indicators, stepIndicators(uninterrupted, bar, true), `indicators ${i}`);
    assertFeatures(got.features, reference(bars.slice(0, i + 1)), `bar ${i}`);
    if (j === 0) assert.ok(Object.values(got.features).every((v) => v !== null), 'warmed up at once from the old state');
  });
});
