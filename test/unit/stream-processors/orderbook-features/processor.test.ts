import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Random } from '../../../../producers/simulator/random.js';
import type { OrderBook } from '../../../../schemas/generated/types.js';
import { bookFeatures } from '../../../../stream-processors/orderbook-features/features.js';
import { OrderBookFeaturesProcessor, type OrderBookFeatureOutputs } from '../../../../stream-processors/orderbook-features/processor.js';
import { TestDriver } from '../../../../stream-processors/runtime/test-driver.js';

const T0 = Date.parse('2026-11-20T00:30:00Z') * 1000;

function books(symbol: string, n: number, seed: number): OrderBook[] {
  const rng = new Random(seed);
  let bid = 50_000;
  return Array.from({ length: n }, (_, i) => {
    bid += 50 * rng.int(-2, 3);
    const levels = rng.int(0, 11);
    const qty = () => Array.from({ length: levels }, () => rng.int(0, 5000));
    return {
      symbol, exchangeTime: T0 + i * 1000 + rng.int(0, 900), ingestTime: T0 + i * 1000 + 950, askPrices: Array.from({ length: levels }, (_, k) => bid + 50 + 50 * k),
      askQuantities: qty(), bidPrices: Array.from({ length: levels }, (_, k) => bid - 50 * k), bidQuantities: qty(), totalAskQuantity: 1, totalBidQuantity: 2,
      expectedPrice: 0, expectedQuantity: 0, cumulativeVolume: i, hourClassCode: '0', sequence: i + 1, source: 'SIMULATOR', venue: 'KRX', marketSession: 'REGULAR',
    };
  });
}

const driver = () => new TestDriver<OrderBook, OrderBookFeatureOutputs>({ processor: () => new OrderBookFeaturesProcessor(), partitions: 2 });

test('one features record per book, keyed by symbol at the book\'s exchange time, exactly once across crashes', () => {
  const a = books('005930', 300, 1);
  const b = books('000660', 300, 2);
  const rng = new Random(5);
  const d = driver();
  for (let i = 0; i < a.length; i++) {
    d.pipe(0, 'a', a[i] as OrderBook, OrderBookFeaturesProcessor.timestamp(a[i] as OrderBook));
    d.pipe(1, 'b', b[i] as OrderBook, OrderBookFeaturesProcessor.timestamp(b[i] as OrderBook));
    if (rng.int(0, 7) === 0) d.commit();
    if (rng.int(0, 50) === 0) d.crash();
  }
  d.commit();
  const out = d.output('features', { committed: true });
  for (const [partition, series] of [[0, a], [1, b]] as const) {
    const got = out.filter((r) => r.partition === partition);
    assert.equal(got.length, series.length, 'exactly one record per book');
    got.forEach((r, i) => {
      const bk = series[i] as OrderBook;
      assert.equal(r.key, bk.symbol);
      assert.equal(r.timestamp, bk.exchangeTime);
      assert.deepEqual(r.value, bookFeatures(bk));
    });
  }
});

test('a book that does not decode is dead-lettered once, also after a crash; nothing is late and idling emits nothing', () => {
  const [x, y] = books('005930', 2, 9) as [OrderBook, OrderBook];
  const d = driver();
  assert.equal(d.pipe(0, x.symbol, x, x.exchangeTime), 'accepted');
  assert.equal(d.pipeBad(0), 'dead-lettered');
  d.commit();
  d.crash();
  assert.equal(d.pipe(0, y.symbol, { ...y, exchangeTime: x.exchangeTime - 60_000_000 }, x.exchangeTime - 60_000_000), 'accepted', 'an older book is still a book: features, not late');
  d.advanceWallClock(10_000);
  d.commit();
  assert.deepEqual(d.deadLetters({ committed: true }), [{ partition: 0, offset: 1 }]);
  assert.equal(d.late().length, 0);
  assert.equal(d.output('features', { committed: true }).length, 2);
});
