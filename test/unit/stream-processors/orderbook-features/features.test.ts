import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../../../lib/errors.js';
import { Random } from '../../../../producers/simulator/random.js';
import type { OrderBook } from '../../../../schemas/generated/types.js';
import { bookFeatures, validateBookLevels } from '../../../../stream-processors/orderbook-features/features.js';
import { assertFeaturesMatch, L, referenceFeatures, type Level } from '../../../helpers/orderbook-features.js';

const T0 = Date.parse('2026-11-20T00:30:00Z') * 1000;

/** A book built level by level, best first. */
function book(bids: Level[], asks: Level[], extra: Partial<OrderBook> = {}): OrderBook {
  return {
    symbol: '005930', exchangeTime: T0, ingestTime: T0 + 5000,
    askPrices: asks.map((l) => l.price), askQuantities: asks.map((l) => l.qty),
    bidPrices: bids.map((l) => l.price), bidQuantities: bids.map((l) => l.qty),
    totalAskQuantity: 777, totalBidQuantity: 888, expectedPrice: 0, expectedQuantity: 0, cumulativeVolume: 1, hourClassCode: '0',
    sequence: 7, source: 'SIMULATOR', venue: 'NXT', marketSession: 'REGULAR', ...extra,
  };
}

/** KRX-like sides: up to 10 levels on a tick grid from the best, zero-priced beyond a price limit. */
function side(rng: Random, best: number, dir: 1 | -1, levels: number, limitAt: number): Level[] {
  return Array.from({ length: levels }, (_, i) => (i >= limitAt ? L(0, 0) : L(best + dir * 50 * i, rng.int(0, 4) === 0 ? 0 : rng.int(1, 2_000_000))));
}

test('random KRX-like books: every feature equals the reference computation', () => {
  const rng = new Random(13);
  for (let n = 0; n < 2000; n++) {
    const bid = 10_000 + 50 * rng.int(0, 2000);
    const ask = bid + 50 * rng.int(1, 5);
    const bids = side(rng, bid, -1, rng.int(0, 11), rng.int(0, 14));
    const asks = side(rng, ask, 1, rng.int(0, 11), rng.int(0, 14));
    const b = book(bids, asks, { sequence: n });
    const f = bookFeatures(validateBookLevels(b));
    assertFeaturesMatch(f, referenceFeatures(bids, asks), `book ${n}`);
    assert.deepEqual([f.symbol, f.venue, f.marketSession, f.exchangeTime, f.sequence, f.totalBidQuantity, f.totalAskQuantity], ['005930', 'NXT', 'REGULAR', T0, n, 888, 777]);
  }
});

test('a full ten-level book, worked by hand', () => {
  const bids = Array.from({ length: 10 }, (_, i) => L(61_000 - 100 * i, 100 * (i + 1)));
  const asks = Array.from({ length: 10 }, (_, i) => L(61_100 + 100 * i, 300));
  const f = bookFeatures(book(bids, asks));
  assert.equal(f.bookState, 'NORMAL');
  assert.equal(f.spread, 100);
  assert.equal(f.mid, 61_050);
  assert.equal(f.microprice, (61_000 * 300 + 61_100 * 100) / 400); // 61,025: the thin bid pulls it down
  assert.deepEqual([f.bidDepth1, f.bidDepth5, f.bidDepth10, f.askDepth1, f.askDepth5, f.askDepth10], [100, 1500, 5500, 300, 1500, 3000]);
  assert.deepEqual([f.imbalance1, f.imbalance5, f.imbalance10], [-0.5, 0, 2500 / 8500]);
});

test('one empty side: no spread, mid or microprice; depth 0; imbalance -1 or +1', () => {
  for (const bids of [[], [L(0, 0), L(0, 0)]]) {
    const f = bookFeatures(book(bids, [L(61_100, 10), L(61_200, 5)]));
    assert.deepEqual(
      [f.bookState, f.bestBid, f.bestAsk, f.spread, f.mid, f.microprice, f.imbalance1, f.imbalance5, f.imbalance10, f.bidDepth1, f.bidDepth10, f.askDepth10],
      ['ONE_SIDED', null, 61_100, null, null, null, -1, -1, -1, 0, 0, 15],
    );
  }
  const f = bookFeatures(book([L(61_000, 4)], []));
  assert.deepEqual([f.bookState, f.bestBid, f.bestAsk, f.spread, f.imbalance1, f.askDepth1], ['ONE_SIDED', 61_000, null, null, 1, 0]);
});

test('an empty book: every feature null, depths 0, totals as published', () => {
  const f = bookFeatures(book([], [L(0, 0)]));
  assert.deepEqual(
    [f.bookState, f.bestBid, f.bestAsk, f.spread, f.mid, f.microprice, f.imbalance1, f.imbalance5, f.imbalance10, f.bidDepth10, f.askDepth10, f.totalBidQuantity],
    ['EMPTY', null, null, null, null, null, null, null, null, 0, 0, 888],
  );
});

test('one level a side: depth and imbalance over 5 and 10 levels are those of the one level', () => {
  const f = bookFeatures(book([L(1_000, 30)], [L(1_001, 10)]));
  assert.deepEqual([f.spread, f.mid, f.microprice], [1, 1000.5, (1_000 * 10 + 1_001 * 30) / 40]);
  assert.deepEqual([f.imbalance1, f.imbalance5, f.imbalance10], [0.5, 0.5, 0.5]);
  assert.deepEqual([f.bidDepth5, f.bidDepth10, f.askDepth5, f.askDepth10], [30, 30, 10, 10]);
});

test('locked and crossed books (call auctions): best prices kept, price features null, quantity features kept', () => {
  for (const [ask, state] of [[61_000, 'LOCKED'], [60_900, 'CROSSED']] as const) {
    const f = bookFeatures(book([L(61_000, 30), L(60_900, 10)], [L(ask, 10), L(61_100, 50)]));
    assert.deepEqual([f.bookState, f.bestBid, f.bestAsk, f.spread, f.mid, f.microprice], [state, 61_000, ask, null, null, null]);
    assert.deepEqual([f.imbalance1, f.imbalance5], [0.5, (40 - 60) / 100]);
  }
});

test('zero quantities: a priced level with nothing resting keeps the prices; 0/0 is null, never NaN', () => {
  const f = bookFeatures(book([L(61_000, 0), L(60_900, 0)], [L(61_100, 0), L(61_200, 5)]));
  assert.deepEqual([f.bookState, f.spread, f.mid, f.microprice, f.imbalance1, f.imbalance5], ['NORMAL', 100, 61_050, null, null, -1]);
  const g = bookFeatures(book([L(61_000, 0)], [L(61_100, 7)]));
  assert.equal(g.microprice, 61_000, 'all the weight on the side with the quantity: the price an ask lifts to');
});

test('malformed books are VALIDATION_FAILED (dead-lettered), well-formed ones pass unchanged', () => {
  const bad: Array<[string, OrderBook]> = [
    ['asks not ascending', book([L(61_000, 1)], [L(61_100, 1), L(61_100, 1)])],
    ['bids not descending', book([L(61_000, 1), L(61_050, 1)], [L(61_100, 1)])],
    ['priced after an unpriced level', book([L(61_000, 1), L(0, 0), L(60_800, 1)], [L(61_100, 1)])],
    ['quantity at price 0', book([L(61_000, 1)], [L(61_100, 1), L(0, 5)])],
    ['quantity on an unpriced best level', book([L(0, 3)], [L(61_100, 1)])],
  ];
  for (const [why, b] of bad) {
    assert.throws(() => validateBookLevels(b), (e: unknown) => isAppError(e, 'VALIDATION_FAILED') && !e.retryable && /invalid order book/.test(e.message), why);
  }
  const ok = book([L(61_000, 1), L(60_900, 0), L(0, 0)], [L(61_100, 0), L(61_200, 1)]);
  assert.equal(validateBookLevels(ok), ok);
  assert.equal(validateBookLevels(book([], [])).askPrices.length, 0);
});
