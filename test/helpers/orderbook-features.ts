import assert from 'node:assert/strict';

/** One order-book level as a person reads it: a price and the quantity resting there. */
export interface Level {
  price: number;
  qty: number;
}
export const L = (price: number, qty: number): Level => ({ price, qty });

export type ReferenceFeatures = ReturnType<typeof referenceFeatures>;

/**
 * Order-book features computed independently of stream-processors/orderbook-features: the definitions
 * written out over level objects (a level with price 0 ends a side), with the algebraically equal
 * forms (microprice as best bid plus the spread weighted by the bid share, imbalance as 2·bid share − 1).
 */
export function referenceFeatures(bids: Level[], asks: Level[]) {
  const priced = (side: Level[]) => {
    const out: Level[] = [];
    for (const l of side) {
      if (l.price === 0) break;
      out.push(l);
    }
    return out;
  };
  const pb = priced(bids);
  const pa = priced(asks);
  const sumTop = (side: Level[], k: number) => {
    let s = 0;
    side.forEach((l, i) => {
      if (i < k) s += l.qty;
    });
    return s;
  };
  const imb = (k: number) => {
    const b = sumTop(pb, k);
    const a = sumTop(pa, k);
    return b + a === 0 ? null : (2 * b) / (b + a) - 1;
  };
  const bb = pb[0];
  const ba = pa[0];
  const normal = bb !== undefined && ba !== undefined && ba.price > bb.price;
  const bookState = !bb && !ba ? 'EMPTY' : !bb || !ba ? 'ONE_SIDED' : normal ? 'NORMAL' : ba.price === bb.price ? 'LOCKED' : 'CROSSED';
  return {
    bookState,
    bestBid: bb?.price ?? null,
    bestAsk: ba?.price ?? null,
    spread: normal ? ba.price - bb.price : null,
    mid: normal ? bb.price + (ba.price - bb.price) / 2 : null,
    microprice: normal && bb.qty + ba.qty > 0 ? bb.price + ((ba.price - bb.price) * bb.qty) / (bb.qty + ba.qty) : null,
    imbalance1: imb(1), imbalance5: imb(5), imbalance10: imb(10),
    bidDepth1: sumTop(pb, 1), bidDepth5: sumTop(pb, 5), bidDepth10: sumTop(pb, 10),
    askDepth1: sumTop(pa, 1), askDepth5: sumTop(pa, 5), askDepth10: sumTop(pa, 10),
  };
}

/** Integer and string features exactly, the others within 1e-12 relative; no NaN or infinity anywhere in `got`. */
export function assertFeaturesMatch(got: object, want: ReferenceFeatures, where: string): void {
  for (const [k, w] of Object.entries(want)) {
    const g = (got as Record<string, unknown>)[k];
    if (typeof w !== 'number' || Number.isInteger(w)) assert.equal(g, w, `${where}: ${k}`);
    else assert.ok(typeof g === 'number' && Math.abs(g - w) <= 1e-12 * Math.max(1, Math.abs(w)), `${where}: ${k} ${g} vs ${w}`);
  }
  for (const [k, v] of Object.entries(got)) if (typeof v === 'number') assert.ok(Number.isFinite(v), `${where}: ${k} is ${v}`);
}

