/** KRX trading rules the simulator (and the fake KIS server it drives) must respect. */

/** 호가가격단위 since 2023-01-25, the same for KOSPI, KOSDAQ and KONEX stocks. */
export function tickSize(price: number): number {
  if (price < 2_000) return 1;
  if (price < 5_000) return 5;
  if (price < 20_000) return 10;
  if (price < 50_000) return 50;
  if (price < 200_000) return 100;
  if (price < 500_000) return 500;
  return 1_000;
}

/** Rounds to a valid price level (down), never below one tick. */
export function snapToTick(price: number): number {
  const size = tickSize(price);
  return Math.max(size, Math.floor(price / size) * size);
}

/** ±30% of the previous close, snapped inward to valid levels (upper limit rounds down, lower up). */
export function priceLimits(previousClose: number): { lower: number; upper: number } {
  const upperRaw = Math.floor(previousClose * 1.3);
  const lowerRaw = Math.ceil(previousClose * 0.7);
  const upper = Math.floor(upperRaw / tickSize(upperRaw)) * tickSize(upperRaw);
  const lowerSize = tickSize(lowerRaw);
  const lower = Math.ceil(lowerRaw / lowerSize) * lowerSize;
  return { lower, upper };
}

/** One price step up or down from `price`, using the tick size that applies on that side. */
export function stepPrice(price: number, steps: number): number {
  let p = price;
  const dir = Math.sign(steps);
  for (let i = 0; i < Math.abs(steps); i++) {
    p = dir > 0 ? p + tickSize(p) : p - tickSize(p - 1);
  }
  return p;
}
