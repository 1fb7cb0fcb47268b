import { back, CLOSES, stepIndicators, type Bar, type IndicatorState, type IndicatorValues } from './indicators.js';

/** One-bar log returns in the rolling volatility (21 closes: this bar's and the 20 before it). */
export const VOLATILITY_BARS = 20;
if (VOLATILITY_BARS >= CLOSES) throw new Error('the closes ring is too short for the volatility window');

/**
 * The model features of one bar (the data-lake plan's price_change, price_change_pct, volume_ma_ratio,
 * volatility, bollinger_position). Null before a feature's warm-up and where its divisor is zero, never 0.
 */
export interface FeatureValues {
  /** close − the previous final bar's close, KRW; null on a symbol's first bar. */
  change: number | null;
  /** 100 × change / previous close (percent, as KRX's change rate). */
  changePct: number | null;
  /** volume / volume SMA 20, the SMA including this bar (the indicators' volumeSma20); null before 20 bars. */
  volumeRatio: number | null;
  /**
   * Sample standard deviation (n − 1) of the last 20 one-bar log returns ln(closeₜ / closeₜ₋₁), per bar
   * (not annualised: a bar's length depends on the interval); null before 21 bars.
   */
  volatility20: number | null;
  /** Bollinger %b: (close − lower) / (upper − lower) of the 20/2 bands; 0 at the lower band, 1 at the upper. */
  bollingerPosition: number | null;
}

export interface BarOutputs {
  indicators: IndicatorValues;
  features: FeatureValues;
}

/** Scratch for the returns: stepBar is not re-entrant and allocates nothing for them per bar. */
const returns = new Float64Array(VOLATILITY_BARS);

/**
 * Sample standard deviation of the log returns ending at `close`, from the closes already in the state
 * (before this bar is folded in). Two passes over 20 values: exact enough at any magnitude, unlike
 * running sums of squares, and no state of its own, so a state written before features existed restores as is.
 */
function volatility(s: IndicatorState, close: number): number | null {
  if (s.bars < VOLATILITY_BARS) return null;
  let newer = close;
  let sum = 0;
  for (let k = 0; k < VOLATILITY_BARS; k++) {
    const older = back(s.closes, s.closesAt, k);
    const r = Math.log(newer / older);
    returns[k] = r;
    sum += r;
    newer = older;
  }
  const mean = sum / VOLATILITY_BARS;
  let squares = 0;
  for (let k = 0; k < VOLATILITY_BARS; k++) {
    const d = (returns[k] as number) - mean;
    squares += d * d;
  }
  const v = Math.sqrt(squares / (VOLATILITY_BARS - 1));
  return Number.isFinite(v) ? v : null;
}

function quotient(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

/**
 * The indicators and the model features of one more bar, from one state, in O(1): `commit` as in
 * stepIndicators (a final candle advances the state; an in-progress one leaves it untouched, and its
 * values are provisional). The features that look back read the state before the bar is folded in.
 */
export function stepBar(s: IndicatorState, bar: Bar, commit: boolean): BarOutputs {
  const prevClose = s.prevClose;
  const volatility20 = volatility(s, bar.close);
  const indicators = stepIndicators(s, bar, commit);
  const change = prevClose !== null ? bar.close - prevClose : null;
  const pct = quotient(change, prevClose);
  const { bbUpper, bbLower } = indicators;
  return {
    indicators,
    features: {
      change,
      changePct: pct === null ? null : pct * 100,
      volumeRatio: quotient(bar.volume, indicators.volumeSma20),
      volatility20,
      bollingerPosition: bbUpper === null || bbLower === null ? null : quotient(bar.close - bbLower, bbUpper - bbLower),
    },
  };
}
