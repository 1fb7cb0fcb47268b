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
const CLOSES = 200;
const STOCH_N = 14;
const DAY_MICROS = 86_400_000_000;

/**
 * Everything the indicators of one symbol need, as plain JSON (the store's changelog value). Rings
 * hold the last N values; running sums of integer prices and volumes stay exact in doubles.
 */
export interface IndicatorState {
  bars: number;
  lastStart: number;
  closes: number[];
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
  highs: number[];
  lows: number[];
  fastK: number[];
  slowK: number[];
  volumes: number[];
  volumeSum: number;
  sessionDay: number;
  sessionValue: number;
  sessionVolume: number;
}

export function newIndicatorState(): IndicatorState {
  return {
    bars: 0, lastStart: Number.NEGATIVE_INFINITY, closes: [], sums: WINDOWS.map(() => 0), sumSq20: 0,
    ema12: null, ema26: null, macdFast: null, signalSeed: 0, signal: null,
    prevClose: null, gain: 0, loss: 0, trSum: 0, atr: null,
    highs: [], lows: [], fastK: [], slowK: [], volumes: [], volumeSum: 0,
    sessionDay: Number.NEGATIVE_INFINITY, sessionValue: 0, sessionVolume: 0,
  };
}

/** The value `back` places before the newest in a ring kept newest-last (0 = newest). */
function back(ring: readonly number[], k: number): number {
  return ring[ring.length - 1 - k] as number;
}

function pushRing(ring: number[], x: number, cap: number): void {
  ring.push(x);
  if (ring.length > cap) ring.shift();
}

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
  const newSums = WINDOWS.map((n, w) => (s.sums[w] as number) + x - (i >= n ? back(s.closes, n - 1) : 0));
  const sumOf = (n: (typeof WINDOWS)[number]) => newSums[WINDOWS.indexOf(n)] as number;
  const sma = (n: (typeof WINDOWS)[number]) => (i + 1 >= n ? sumOf(n) / n : null);
  const ema = (prev: number | null, n: 12 | 26) => (prev !== null ? (x - prev) * (2 / (n + 1)) + prev : i + 1 === n ? sumOf(n) / n : null);

  const ema12 = ema(s.ema12, 12);
  const ema26 = ema(s.ema26, 26);
  const macdFast = s.macdFast !== null ? (x - s.macdFast) * (2 / 13) + s.macdFast : i === 25 ? sumOf(12) / 12 : null;
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
  const sumSq20 = s.sumSq20 + x * x - (i >= 20 ? back(s.closes, 19) ** 2 : 0);
  const bbMiddle = sma(20);
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
  if (i + 1 >= STOCH_N) {
    let hh = bar.high;
    let ll = bar.low;
    for (let k = 0; k < STOCH_N - 1; k++) {
      hh = Math.max(hh, back(s.highs, k));
      ll = Math.min(ll, back(s.lows, k));
    }
    const diff = (hh - ll) / 100;
    fastK = diff !== 0 ? (x - ll) / diff : 0;
  }
  const avg3 = (ring: readonly number[], v: number | null) => (v !== null && ring.length >= 2 ? (back(ring, 1) + back(ring, 0) + v) / 3 : null);
  const stochK = avg3(s.fastK, fastK);
  const stochD = avg3(s.slowK, stochK);

  const volumeSum = s.volumeSum + bar.volume - (i >= 20 ? back(s.volumes, 19) : 0);
  const volumeSma20 = i + 1 >= 20 ? volumeSum / 20 : null;

  // Session VWAP: cumulative over the KST trading day.
  const day = windowStartOf(bar.windowStart, DAY_MICROS, KST_OFFSET_MICROS);
  const sameDay = day === s.sessionDay;
  const sessionValue = (sameDay ? s.sessionValue : 0) + bar.tradedValue;
  const sessionVolume = (sameDay ? s.sessionVolume : 0) + bar.volume;
  const vwap = sessionVolume > 0 ? sessionValue / sessionVolume : null;

  if (commit) {
    s.bars = i + 1;
    s.lastStart = bar.windowStart;
    pushRing(s.closes, x, CLOSES);
    s.sums = newSums;
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
    pushRing(s.highs, bar.high, STOCH_N - 1);
    pushRing(s.lows, bar.low, STOCH_N - 1);
    if (fastK !== null) pushRing(s.fastK, fastK, 2);
    if (stochK !== null) pushRing(s.slowK, stochK, 2);
    pushRing(s.volumes, bar.volume, 20);
    s.volumeSum = volumeSum;
    s.sessionDay = day;
    s.sessionValue = sessionValue;
    s.sessionVolume = sessionVolume;
  }
  return {
    sma5: sma(5), sma20: bbMiddle, sma60: sma(60), sma120: sma(120), sma200: sma(200),
    ema12, ema26, rsi14,
    macd, macdSignal: signal, macdHist: macd !== null && signal !== null ? macd - signal : null,
    bbUpper, bbMiddle, bbLower, stochK, stochD, atr14: atr, vwap, volumeSma20,
  };
}
