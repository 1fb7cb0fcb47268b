import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newIndicatorState, stepIndicators, type Bar, type IndicatorValues } from '../../../../stream-processors/indicators/indicators.js';
import { talibFixture } from '../../../helpers/talib-fixture.js';

const fixture = talibFixture();
const T0 = Date.parse('2026-11-20T00:00:00Z') * 1000;
const bars: Bar[] = fixture.bars.map((b, i) => ({ ...b, windowStart: T0 + i * 60_000_000 }));

function close(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 1e-9 * Math.max(Math.abs(expected), 1);
}

test('every indicator equals TA-Lib within 1e-9 (relative) after its warm-up, and is absent before it', () => {
  const state = newIndicatorState();
  const rows = bars.map((b) => stepIndicators(state, b, true));
  for (const [name, expected] of Object.entries(fixture.expected)) {
    const firstTaLib = expected.findIndex((v) => v !== null);
    assert.ok(firstTaLib > 0, `${name}: TA-Lib has a warm-up`);
    let compared = 0;
    expected.forEach((e, i) => {
      const got = rows[i]?.[name as keyof IndicatorValues];
      if (e === null) {
        // MACD's line and the slow %K are defined a few bars before TA-Lib prints them (it aligns them with the signal / %D).
        if (!['macd', 'stochK'].includes(name) || i < firstTaLib - 8) assert.equal(got, null, `${name}[${i}] must be absent before the warm-up`);
        return;
      }
      assert.ok(typeof got === 'number' && close(got, e), `${name}[${i}]: ${got} vs TA-Lib ${e}`);
      compared++;
    });
    assert.ok(compared > 150, `${name}: ${compared} values compared`);
  }
});

test('a provisional bar leaves the state alone: committing it afterwards gives the same values', () => {
  const a = newIndicatorState();
  const b = newIndicatorState();
  bars.forEach((bar, i) => {
    if (i % 3 === 0) {
      const before = JSON.stringify(a);
      const provisional = stepIndicators(a, { ...bar, close: bar.close + 100, high: bar.high + 100 }, false);
      assert.equal(JSON.stringify(a), before, 'state untouched');
      assert.ok(provisional);
    }
    assert.deepEqual(stepIndicators(a, bar, true), stepIndicators(b, bar, true));
  });
});

test('the state survives its changelog round trip (JSON) exactly', () => {
  let state = newIndicatorState();
  const reference = newIndicatorState();
  bars.forEach((bar, i) => {
    if (i % 7 === 0) state = JSON.parse(JSON.stringify(state));
    assert.deepEqual(stepIndicators(state, bar, true), stepIndicators(reference, bar, true));
  });
});

test('session VWAP restarts at midnight KST and equals the cumulative traded value over volume', () => {
  const s = newIndicatorState();
  const kstMidnight = Date.parse('2026-11-20T15:00:00Z') * 1000;
  const bar = (t: number, close: number, volume: number): Bar => ({ windowStart: t, high: close, low: close, close, volume, tradedValue: close * volume });
  assert.equal(stepIndicators(s, bar(kstMidnight - 120_000_000, 100, 10), true).vwap, 100);
  assert.equal(stepIndicators(s, bar(kstMidnight - 60_000_000, 200, 30), true).vwap, (1000 + 6000) / 40);
  assert.equal(stepIndicators(s, bar(kstMidnight, 300, 5), true).vwap, 300, 'a new KST day starts over');
});
