import assert from 'node:assert/strict';
import { test } from 'node:test';
import { priceLimits, tickSize } from '../../../../producers/simulator/krx-rules.js';
import { generateListings } from '../../../../producers/simulator/listings.js';
import { isoToEpochDay } from '../../../../lib/time.js';
import { withSeparators, dayRow } from '../../../fakes/krx/format.js';
import { FakeKrxMarket, isinFor } from '../../../fakes/krx/market.js';

test("the fake KRX describes the simulator's market: same codes, names, markets; closes near the simulator's prices", () => {
  const market = new FakeKrxMarket(300, 42);
  const listings = generateListings(300, 42);
  assert.deepEqual(market.stocks.map((s) => [s.listing.symbol, s.englishName, s.listing.market]), listings.map((l) => [l.symbol, l.name, l.market]));
  const anchor = isoToEpochDay('2026-11-30');
  for (const s of market.stocks) {
    const ratio = market.close(s, anchor) / s.listing.previousClose;
    assert.ok(ratio > 0.9 && ratio < 1.1, `${s.listing.symbol}: ${ratio}`);
  }
});

test('every bar is a valid KRX day: tick-sized prices, inside ±30 % of the previous close, OHLC in order; same numbers every time', () => {
  const a = new FakeKrxMarket(200, 7);
  const b = new FakeKrxMarket(200, 7);
  let halted = 0;
  for (let day = isoToEpochDay('2024-01-01'); day < isoToEpochDay('2024-04-01'); day++) {
    const bars = a.barsOn(day);
    assert.deepEqual(bars, b.barsOn(day));
    if (!bars) continue;
    for (const bar of bars) {
      const prev = a.close(bar.stock, a.previousTradingDay(day));
      assert.equal(bar.change, bar.close - prev);
      const { lower, upper } = priceLimits(prev);
      assert.ok(bar.close >= lower && bar.close <= upper, `${bar.stock.listing.symbol} ${day}`);
      assert.equal(bar.close % tickSize(bar.close), 0);
      if (bar.volume === 0) {
        halted++;
        assert.deepEqual([bar.open, bar.high, bar.low, bar.change], [0, 0, 0, 0]);
        continue;
      }
      assert.ok(bar.low <= Math.min(bar.open, bar.close) && bar.high >= Math.max(bar.open, bar.close) && bar.low >= lower && bar.high <= upper);
    }
  }
  assert.ok(halted > 0, 'some halted days (no volume, open/high/low 0)');
});

test('weekends and holidays have no bars; the data format shows `-` for them; ISINs carry a valid check digit', () => {
  const m = new FakeKrxMarket(10, 42);
  assert.equal(m.barsOn(isoToEpochDay('2026-11-28')), null, 'Saturday');
  assert.equal(m.barsOn(isoToEpochDay('2026-01-01')), null, 'New Year');
  assert.equal(dayRow(m.stocks[0]!, null)['TDD_CLSPRC'], '-');
  assert.equal(isinFor('005930'), 'KR7005930003');
  assert.equal(isinFor('000660'), 'KR7000660001');
  assert.deepEqual([withSeparators(910274405), withSeparators(-1200), withSeparators(15)], ['910,274,405', '-1,200', '15']);
});
