import { AppError } from '../../lib/errors.js';
import type { BookState, OrderBook, OrderBookFeatures } from '../../schemas/generated/types.js';

/**
 * Features of one order book, a pure function of the book (no state, no clock), so a replay gives
 * byte-identical records.
 *
 * Contract with the book (checked by `validateBookLevels` before a book gets here):
 * - level 1 is the best price of a side; a level with price 0 is no level (KIS sends 0 beyond the
 *   daily price limits) and holds no quantity; priced levels come first, strictly ordered.
 * - An empty side (no priced level): its best price is null and its depths are 0.
 *
 * What is null, never zero or NaN:
 * - spread, mid and microprice unless both sides are priced and the best ask is above the best bid
 *   (`bookState` NORMAL). A locked or crossed book (call auctions) has no meaningful price between
 *   the sides; `bookState` says which, and the best prices stay available.
 * - microprice also when both level-1 quantities are zero (its weights are undefined).
 * - imbalance over k levels when both sides hold nothing over those levels (0/0); a one-sided book
 *   has imbalance ±1, which is what it is.
 */
export function bookFeatures(b: OrderBook): OrderBookFeatures {
  const bestBid = bestPrice(b.bidPrices);
  const bestAsk = bestPrice(b.askPrices);
  const state = bookState(bestBid, bestAsk);
  const bidDepth1 = depth(b.bidQuantities, 1);
  const askDepth1 = depth(b.askQuantities, 1);
  const bidDepth5 = depth(b.bidQuantities, 5);
  const askDepth5 = depth(b.askQuantities, 5);
  const bidDepth10 = depth(b.bidQuantities, 10);
  const askDepth10 = depth(b.askQuantities, 10);
  let spread: number | null = null;
  let mid: number | null = null;
  let microprice: number | null = null;
  if (state === 'NORMAL' && bestBid !== null && bestAsk !== null) {
    spread = bestAsk - bestBid;
    mid = (bestAsk + bestBid) / 2;
    const top = bidDepth1 + askDepth1;
    if (top > 0) microprice = (bestBid * askDepth1 + bestAsk * bidDepth1) / top;
  }
  return {
    symbol: b.symbol,
    venue: b.venue,
    marketSession: b.marketSession,
    exchangeTime: b.exchangeTime,
    sequence: b.sequence,
    bookState: state,
    bestBid,
    bestAsk,
    spread,
    mid,
    microprice,
    imbalance1: imbalance(bidDepth1, askDepth1),
    imbalance5: imbalance(bidDepth5, askDepth5),
    imbalance10: imbalance(bidDepth10, askDepth10),
    bidDepth1,
    bidDepth5,
    bidDepth10,
    askDepth1,
    askDepth5,
    askDepth10,
    totalBidQuantity: b.totalBidQuantity,
    totalAskQuantity: b.totalAskQuantity,
  };
}

function bestPrice(prices: readonly number[]): number | null {
  const p = prices[0];
  return p !== undefined && p > 0 ? p : null;
}

function bookState(bid: number | null, ask: number | null): BookState {
  if (bid === null && ask === null) return 'EMPTY';
  if (bid === null || ask === null) return 'ONE_SIDED';
  return ask > bid ? 'NORMAL' : ask === bid ? 'LOCKED' : 'CROSSED';
}

function depth(quantities: readonly number[], levels: number): number {
  const n = Math.min(levels, quantities.length);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += quantities[i] as number;
  return sum;
}

function imbalance(bid: number, ask: number): number | null {
  const total = bid + ask;
  return total > 0 ? (bid - ask) / total : null;
}

/**
 * The level rules the features rely on, beyond schemas/validation.ts's `validateOrderBook` (which the
 * QuestDB sink shares, and which stores any book it can flatten): a book that breaks one is
 * VALIDATION_FAILED, dead-lettered by the runtime, never turned into features.
 */
export function validateBookLevels(b: OrderBook): OrderBook {
  checkSide('ask', b.askPrices, b.askQuantities, (prev, p) => p > prev);
  checkSide('bid', b.bidPrices, b.bidQuantities, (prev, p) => p < prev);
  return b;
}

function checkSide(side: string, prices: readonly number[], quantities: readonly number[], worse: (prev: number, p: number) => boolean): void {
  let unpricedFrom = -1;
  for (let i = 0; i < prices.length; i++) {
    const p = prices[i] as number;
    if (p === 0) {
      if (unpricedFrom < 0) unpricedFrom = i;
      if (quantities[i] !== 0) invalid(`${side} level ${i + 1} holds quantity ${quantities[i]} at price 0`);
    } else if (unpricedFrom >= 0) {
      invalid(`${side} level ${i + 1} is priced after the unpriced level ${unpricedFrom + 1}`);
    } else if (i > 0 && !worse(prices[i - 1] as number, p)) {
      invalid(`${side} prices are not strictly ordered from the best at level ${i + 1} (${prices[i - 1]} then ${p})`);
    }
  }
}

function invalid(problem: string): never {
  throw new AppError('VALIDATION_FAILED', `invalid order book: ${problem}`);
}
