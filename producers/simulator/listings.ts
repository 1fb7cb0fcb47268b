import { Random } from './random.js';
import { snapToTick } from './krx-rules.js';

export type Market = 'KOSPI' | 'KOSDAQ' | 'KONEX';

export interface Listing {
  symbol: string;
  name: string;
  market: Market;
  previousClose: number;
  /** Relative trading activity: a few names trade far more than the rest (Zipf-like). */
  activity: number;
  /** Daily volatility of the fair price, as a fraction. */
  dailyVolatility: number;
}

/** A few real large caps first, so a demo shows familiar names; prices are round 2026-ish levels. */
const LARGE_CAPS: ReadonlyArray<[string, string, number]> = [
  ['005930', 'Samsung Electronics', 61_000],
  ['000660', 'SK hynix', 182_000],
  ['373220', 'LG Energy Solution', 352_000],
  ['207940', 'Samsung Biologics', 812_000],
  ['005380', 'Hyundai Motor', 214_000],
  ['035420', 'NAVER', 188_000],
  ['035720', 'Kakao', 41_250],
  ['051910', 'LG Chem', 312_500],
  ['068270', 'Celltrion', 176_400],
  ['105560', 'KB Financial', 78_900],
];

/** The market's mix of listings: ≈950 KOSPI, ≈1,820 KOSDAQ, ≈110 KONEX out of 2,880. */
function marketOf(index: number, count: number): Market {
  const f = index / count;
  if (f < 950 / 2880) return 'KOSPI';
  if (f < (950 + 1820) / 2880) return 'KOSDAQ';
  return 'KONEX';
}

/** Deterministic listings for a seed: the same seed gives the same codes, names and prices. */
export function generateListings(count: number, seed: number): Listing[] {
  const rng = new Random(seed ^ 0x5eed);
  const used = new Set<string>();
  const out: Listing[] = [];
  for (let i = 0; i < count; i++) {
    let symbol: string;
    let name: string;
    let price: number;
    const large = LARGE_CAPS[i];
    if (large) {
      [symbol, name, price] = large;
    } else {
      do {
        // Real short codes are six digits and mostly end in 0.
        symbol = String(rng.int(1, 99_999)).padStart(5, '0') + '0';
      } while (used.has(symbol) || LARGE_CAPS.some(([s]) => s === symbol));
      name = `SIM ${symbol}`;
      // Log-normal around ≈ 10,000 KRW: most stocks trade between 1,000 and 100,000.
      price = Math.exp(Math.log(10_000) + rng.normal() * 1.2);
      price = Math.min(Math.max(price, 200), 1_500_000);
    }
    used.add(symbol);
    out.push({
      symbol,
      name,
      market: marketOf(i, count),
      previousClose: snapToTick(price),
      activity: 1 / Math.pow(i + 1, 0.8),
      dailyVolatility: 0.01 + rng.next() * 0.03,
    });
  }
  return out;
}
