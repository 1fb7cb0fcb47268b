import type { FeatureValues } from '../../stream-processors/indicators/features.js';

/** What the reference needs of a bar. */
export interface ReferenceBar {
  close: number;
  volume: number;
}

/** Values to take from elsewhere (TA-Lib) instead of recomputing them. */
export interface ReferenceInputs {
  bbUpper: number | null;
  bbLower: number | null;
  volumeSma20: number | null;
}

/**
 * The model features of bar `i`, recomputed from the whole history with plain loops: no rings, no running
 * sums, no code shared with stream-processors/indicators. The definitions are those of the Features
 * schema: change against the previous close, volume over its 20-bar SMA including this bar, the sample
 * standard deviation of 20 log returns, Bollinger %b of the 20/2 population bands.
 */
export function referenceFeatures(history: readonly ReferenceBar[], i: number, given?: ReferenceInputs): FeatureValues {
  const close = (k: number) => (history[k] as ReferenceBar).close;
  const bar = history[i] as ReferenceBar;
  let volumeSma20: number | null = null;
  let bbUpper: number | null = null;
  let bbLower: number | null = null;
  if (i >= 19) {
    let vol = 0;
    let sum = 0;
    for (let k = i - 19; k <= i; k++) {
      vol += (history[k] as ReferenceBar).volume;
      sum += close(k);
    }
    volumeSma20 = vol / 20;
    const mean = sum / 20;
    let sq = 0;
    for (let k = i - 19; k <= i; k++) sq += (close(k) - mean) ** 2;
    const sd = Math.sqrt(sq / 20);
    [bbUpper, bbLower] = [mean + 2 * sd, mean - 2 * sd];
  }
  if (given) ({ bbUpper, bbLower, volumeSma20 } = given);
  let volatility20: number | null = null;
  if (i >= 20) {
    const r: number[] = [];
    for (let k = i - 19; k <= i; k++) r.push(Math.log(close(k)) - Math.log(close(k - 1)));
    const mean = r.reduce((a, b) => a + b, 0) / r.length;
    volatility20 = Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / (r.length - 1));
  }
  return {
    change: i >= 1 ? bar.close - close(i - 1) : null,
    changePct: i >= 1 ? ((bar.close - close(i - 1)) / close(i - 1)) * 100 : null,
    volumeRatio: volumeSma20 ? bar.volume / volumeSma20 : null,
    volatility20,
    bollingerPosition: bbUpper !== null && bbLower !== null && bbUpper !== bbLower ? (bar.close - bbLower) / (bbUpper - bbLower) : null,
  };
}

/** Equal within 1e-9 relative (down to 1e-15 absolute near zero), or both null. */
export function sameFeature(actual: number | null, expected: number | null): boolean {
  if (expected === null || actual === null) return actual === expected;
  return Math.abs(actual - expected) <= 1e-9 * Math.max(Math.abs(expected), 1e-6);
}
