import { KST_OFFSET_MICROS, windowStartOf } from '../../lib/time.js';

/** One bar as the indicators see it (a candle). */
export interface Bar {
  windowStart: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  tradedValue: number;
}

/** Values of one bar; null until the indicator's warm-up is complete (never zero-filled). */
export interface IndicatorValues {
  sma5: number | null;
  sma20: number | null;
  sma60: number | null;
  sma120: number | null;
  sma200: number | null;
  ema12: number | null;
  ema26: number | null;
  rsi14: number | null;
  macd: number | null;
  macdSignal: number | null;
  macdHist: number | null;
  bbUpper: number | null;
  bbMiddle: number | null;
  bbLower: number | null;
  stochK: number | null;
  stochD: number | null;
  atr14: number | null;
  vwap: number | null;
  volumeSma20: number | null;
}

/** Close windows whose running sums are kept: the SMAs, the EMA seeds and MACD's fast seed. */
const WINDOWS = [5, 12, 20, 26, 60, 120, 200] as const;
const W5 = 0, W12 = 1, W20 = 2, W26 = 3, W60 = 4, W120 = 5, W200 = 6;
/** Closes kept per symbol: the longest SMA's; the model features read the newest of them too. */
export const CLOSES = 200;
const STOCH_N = 14;
const DAY_MICROS = 86_400_000_000;

/**
 * Everything the indicators of one symbol need, as plain JSON (the store's changelog value). Rings
 * are fixed-size circular arrays (`*At`: the next slot to write); running sums of integer prices
 * and volumes stay exact in doubles.
 */
export interface IndicatorState {
  bars: number;
  lastStart: number;
  closes: number[];
  closesAt: number;
  sums: number[];
  sumSq20: number;
  ema12: number | null;
  ema26: number | null;
  macdFast: number | null;
  signalSeed: number;
  signal: number | null;
  prevClose: number | null;
  gain: number;
  loss: number;
  trSum: number;
  atr: number | null;
  /** The last 13 highs and lows (with the new bar, the stochastic's 14). */
  highs: number[];
  lows: number[];
  hlAt: number;
  /** The two previous fast %K and slow %K values (null until there are two). */
  fastK1: number | null;
  fastK2: number | null;
  slowK1: number | null;
  slowK2: number | null;
  volumes: number[];
  volumesAt: number;
  volumeSum: number;
  sessionDay: number;
  sessionValue: number;
  sessionVolume: number;
}

export function newIndicatorState(): IndicatorState {
  return {
    bars: 0, lastStart: Number.NEGATIVE_INFINITY, closes: new Array<number>(CLOSES).fill(0), closesAt: 0, sums: WINDOWS.map(() => 0), sumSq20: 0,
    ema12: null, ema26: null, macdFast: null, signalSeed: 0, signal: null,
    prevClose: null, gain: 0, loss: 0, trSum: 0, atr: null,
    highs: new Array<number>(STOCH_N - 1).fill(0), lows: new Array<number>(STOCH_N - 1).fill(0), hlAt: 0,
    fastK1: null, fastK2: null, slowK1: null, slowK2: null,
    volumes: new Array<number>(20).fill(0), volumesAt: 0, volumeSum: 0,
    sessionDay: Number.NEGATIVE_INFINITY, sessionValue: 0, sessionVolume: 0,
  };
}

/** The value `k` places before the newest in a circular ring whose next slot is `at` (0 = newest). */
export function back(ring: readonly number[], at: number, k: number): number {
  const i = at - 1 - k;
  return ring[i < 0 ? i + ring.length : i] as number;
}

/** Scratch for the new running sums: stepIndicators is not re-entrant, and allocates nothing per bar here. */
const newSums = new Array<number>(WINDOWS.length).fill(0);

/**
 * The indicators of one more bar, in O(1) (rings of at most 200). With `commit` the bar becomes part
 * of the state (a final candle); without it the state is untouched and the values are provisional
 * (the in-progress candle). Formulas and seeds follow TA-Lib, which the unit tests compare with:
 * EMAs start from the SMA of their first n closes; MACD's fast EMA is seeded with the SMA of the 12
 * closes ending where the slow EMA starts; RSI and ATR use Wilder's smoothing after a simple mean;
 * Bollinger uses the population standard deviation; the stochastic is the slow one, SMA 3 then SMA 3.
 */
export function stepIndicators(s: IndicatorState, bar: Bar, commit: boolean): IndicatorValues {
  const i = s.bars; // index of this bar
  const x = bar.close;
  for (let w = 0; w < WINDOWS.length; w++) {
    const n = WINDOWS[w] as number;
    newSums[w] = (s.sums[w] as number) + x - (i >= n ? back(s.closes, s.closesAt, n - 1) : 0);
  }
  const have = i + 1;
  const ema12 = s.ema12 !== null ? (x - s.ema12) * (2 / 13) + s.ema12 : have === 12 ? (newSums[W12] as number) / 12 : null;
  const ema26 = s.ema26 !== null ? (x - s.ema26) * (2 / 27) + s.ema26 : have === 26 ? (newSums[W26] as number) / 26 : null;
  const macdFast = s.macdFast !== null ? (x - s.macdFast) * (2 / 13) + s.macdFast : i === 25 ? (newSums[W12] as number) / 12 : null;
  const macd = macdFast !== null && ema26 !== null ? macdFast - ema26 : null;
  let signalSeed = s.signalSeed;
  let signal: number | null = null;
  if (macd !== null) {
    if (s.signal !== null) signal = (macd - s.signal) * (2 / 10) + s.signal;
    else {
      signalSeed += macd;
      if (i === 33) signal = signalSeed / 9;
    }
  }

  // RSI (Wilder): a simple mean of the first 14 changes, then (avg * 13 + change) / 14.
  let gain = s.gain;
  let loss = s.loss;
  let rsi14: number | null = null;
  if (s.prevClose !== null) {
    const d = x - s.prevClose;
    if (i <= 14) {
      if (d < 0) loss -= d;
      else gain += d;
      if (i === 14) {
        gain /= 14;
        loss /= 14;
      }
    } else {
      loss *= 13;
      gain *= 13;
      if (d < 0) loss -= d;
      else gain += d;
      loss /= 14;
      gain /= 14;
    }
    if (i >= 14) rsi14 = gain + loss !== 0 ? 100 * (gain / (gain + loss)) : 0;
  }

  // ATR: true range from the second bar; a simple mean of the first 14, then Wilder.
  let trSum = s.trSum;
  let atr: number | null = s.atr;
  if (s.prevClose !== null) {
    const tr = Math.max(bar.high - bar.low, Math.abs(s.prevClose - bar.high), Math.abs(bar.low - s.prevClose));
    if (atr !== null) atr = (atr * 13 + tr) / 14;
    else {
      trSum += tr;
      if (i === 14) atr = trSum / 14;
    }
  }

  // Bollinger 20, 2 population standard deviations around the SMA.
  const old20 = i >= 20 ? back(s.closes, s.closesAt, 19) : 0;
  const sumSq20 = s.sumSq20 + x * x - old20 * old20;
  const bbMiddle = have >= 20 ? (newSums[W20] as number) / 20 : null;
  let bbUpper: number | null = null;
  let bbLower: number | null = null;
  if (bbMiddle !== null) {
    const variance = sumSq20 / 20 - bbMiddle * bbMiddle;
    const sd = variance > 0 ? Math.sqrt(variance) : 0;
    bbUpper = bbMiddle + 2 * sd;
    bbLower = bbMiddle - 2 * sd;
  }

  // Slow stochastic 14/3/3: fast %K over 14 bars, %K = its SMA 3, %D = the SMA 3 of that.
  let fastK: number | null = null;
  if (have >= STOCH_N) {
    let hh = bar.high;
    let ll = bar.low;
    for (let k = 0; k < STOCH_N - 1; k++) {
      const h = back(s.highs, s.hlAt, k);
      const l = back(s.lows, s.hlAt, k);
      if (h > hh) hh = h;
      if (l < ll) ll = l;
    }
    const diff = (hh - ll) / 100;
    fastK = diff !== 0 ? (x - ll) / diff : 0;
  }
  const stochK = fastK !== null && s.fastK2 !== null ? ((s.fastK2 as number) + (s.fastK1 as number) + fastK) / 3 : null;
  const stochD = stochK !== null && s.slowK2 !== null ? ((s.slowK2 as number) + (s.slowK1 as number) + stochK) / 3 : null;

  const volumeSum = s.volumeSum + bar.volume - (i >= 20 ? back(s.volumes, s.volumesAt, 19) : 0);
  const volumeSma20 = have >= 20 ? volumeSum / 20 : null;

  // Session VWAP: cumulative over the KST trading day.
  const day = windowStartOf(bar.windowStart, DAY_MICROS, KST_OFFSET_MICROS);
  const sameDay = day === s.sessionDay;
  const sessionValue = (sameDay ? s.sessionValue : 0) + bar.tradedValue;
  const sessionVolume = (sameDay ? s.sessionVolume : 0) + bar.volume;
  const vwap = sessionVolume > 0 ? sessionValue / sessionVolume : null;

  if (commit) {
    s.bars = have;
    s.lastStart = bar.windowStart;
    s.closes[s.closesAt] = x;
    s.closesAt = (s.closesAt + 1) % CLOSES;
    for (let w = 0; w < WINDOWS.length; w++) s.sums[w] = newSums[w] as number;
    s.sumSq20 = sumSq20;
    s.ema12 = ema12;
    s.ema26 = ema26;
    s.macdFast = macdFast;
    s.signalSeed = signalSeed;
    s.signal = signal;
    s.prevClose = x;
    s.gain = gain;
    s.loss = loss;
    s.trSum = trSum;
    s.atr = atr;
    s.highs[s.hlAt] = bar.high;
    s.lows[s.hlAt] = bar.low;
    s.hlAt = (s.hlAt + 1) % (STOCH_N - 1);
    if (fastK !== null) [s.fastK2, s.fastK1] = [s.fastK1, fastK];
    if (stochK !== null) [s.slowK2, s.slowK1] = [s.slowK1, stochK];
    s.volumes[s.volumesAt] = bar.volume;
    s.volumesAt = (s.volumesAt + 1) % 20;
    s.volumeSum = volumeSum;
    s.sessionDay = day;
    s.sessionValue = sessionValue;
    s.sessionVolume = sessionVolume;
  }
  return {
    sma5: have >= 5 ? (newSums[W5] as number) / 5 : null, sma20: bbMiddle,
    sma60: have >= 60 ? (newSums[W60] as number) / 60 : null, sma120: have >= 120 ? (newSums[W120] as number) / 120 : null,
    sma200: have >= 200 ? (newSums[W200] as number) / 200 : null,
    ema12, ema26, rsi14,
    macd, macdSignal: signal, macdHist: macd !== null && signal !== null ? macd - signal : null,
    bbUpper, bbMiddle, bbLower, stochK, stochD, atr14: atr, vwap, volumeSma20,
  };
}
