import assert from 'node:assert/strict';
import { test } from 'node:test';
import { priceLimits, tickSize } from '../../../../producers/simulator/krx-rules.js';
import { generateListings } from '../../../../producers/simulator/listings.js';
import { MarketSimulator } from '../../../../producers/simulator/market.js';
import { intradayIntensity, nxtPhase, sessionPhase } from '../../../../producers/simulator/session.js';

const S = 1_000_000;
const kst = (hhmm: string) => Date.parse(`2026-11-20T${hhmm.length === 5 ? `${hhmm}:00` : hhmm}+09:00`) * 1000;

test('KRX tick sizes at every band edge', () => {
  const cases: Array<[number, number]> = [[1_999, 1], [2_000, 5], [4_995, 5], [5_000, 10], [19_990, 10], [20_000, 50], [49_950, 50], [50_000, 100], [199_900, 100], [200_000, 500], [499_500, 500], [500_000, 1_000]];
  for (const [price, size] of cases) assert.equal(tickSize(price), size, `price ${price}`);
});

test('price limits are ±30% snapped inward to valid levels', () => {
  assert.deepEqual(priceLimits(61_000), { lower: 42_700, upper: 79_300 });
  const { lower, upper } = priceLimits(10_150);
  assert.ok(upper <= 10_150 * 1.3 && upper % tickSize(upper) === 0);
  assert.ok(lower >= 10_150 * 0.7 && lower % tickSize(lower) === 0);
});

test('the same seed gives the same market; trades respect tick sizes and limits', () => {
  const listings = generateListings(300, 5);
  assert.equal(new Set(listings.map((l) => l.symbol)).size, 300);
  const run = () => {
    const sim = new MarketSimulator({ listings, seed: 5, ticksPerSecond: 2_000, mode: 'always', orderBooks: true });
    const events = [];
    for (let t = 0; t < 20; t++) events.push(sim.advance(T(t), T(t + 1)));
    return events;
  };
  const T = (s: number) => kst('10:00') + s * S;
  const a = run();
  assert.deepEqual(a, run());
  const ticks = a.flatMap((e) => e.ticks);
  assert.equal(ticks.length, 40_000);
  const byPrev = new Map(listings.map((l) => [l.symbol, priceLimits(l.previousClose)]));
  let lastTime = 0;
  for (const t of ticks) {
    assert.equal(t.price % tickSize(t.price), 0, `${t.price} not on the tick grid`);
    const lim = byPrev.get(t.symbol)!;
    assert.ok(t.price >= lim.lower && t.price <= lim.upper, `${t.symbol} ${t.price} outside ${lim.lower}..${lim.upper}`);
    assert.ok(t.exchangeTime >= lastTime, 'exchange-time order');
    lastTime = t.exchangeTime;
  }
  const books = a.flatMap((e) => e.books);
  for (const b of books.slice(0, 500)) {
    assert.equal(b.askPrices.length, 10);
    assert.ok((b.askPrices[0] as number) > (b.bidPrices[0] as number), 'best ask above best bid');
    for (let i = 1; i < 10; i++) {
      if (b.askPrices[i] !== 0) assert.ok((b.askPrices[i] as number) > (b.askPrices[i - 1] as number));
      if (b.bidPrices[i] !== 0) assert.ok((b.bidPrices[i] as number) < (b.bidPrices[i - 1] as number));
    }
  }
});

test('krx session mode: auctions, closed hours and a U-shaped intraday profile', () => {
  assert.equal(sessionPhase(kst('08:45'), 'krx'), 'pre-open');
  assert.equal(sessionPhase(kst('09:00'), 'krx'), 'regular');
  assert.equal(sessionPhase(kst('15:25'), 'krx'), 'closing-auction');
  assert.equal(sessionPhase(kst('15:35'), 'krx'), 'closed');
  assert.equal(sessionPhase(kst('20:00'), 'krx'), 'closed');
  assert.equal(sessionPhase(kst('03:00'), 'always'), 'regular');
  const open = intradayIntensity(kst('09:01'), 'krx');
  const midday = intradayIntensity(kst('12:30'), 'krx');
  const close = intradayIntensity(kst('15:15'), 'krx');
  assert.ok(open > close && close > midday, `U shape: open ${open}, midday ${midday}, close ${close}`);

  const sim = new MarketSimulator({ listings: generateListings(50, 1), seed: 1, ticksPerSecond: 1_000, mode: 'krx', orderBooks: false });
  assert.equal(sim.advance(kst('08:59') , kst('08:59') + 30 * S).ticks.length, 0, 'no continuous trading in the pre-open auction');
  const opening = sim.advance(kst('09:00'), kst('09:00') + S / 10).ticks;
  assert.ok(opening.some((t) => t.side === 'AUCTION' && t.sessionCode === '10' && t.marketSession === 'REGULAR'), 'the opening auction crosses at 09:00, the regular session\'s official open');
  assert.equal(sim.advance(kst('15:30'), kst('15:30') + 10 * S).ticks.length, 0, 'closed between the closing auction and 15:40');
});

test('the closing auction crosses once, at 15:30:00, whatever the steps: ending on the close or across it', () => {
  for (const step of [S / 10, 0.3 * S, 7 * S]) {
    const sim = new MarketSimulator({ listings: generateListings(50, 1), seed: 2, ticksPerSecond: 1_000, mode: 'krx', orderBooks: false });
    const crosses: number[] = [];
    for (let t = kst('15:29') + 0.05 * S; t < kst('15:31'); t += step) {
      for (const tick of sim.advance(t, t + step).ticks) if (tick.side === 'AUCTION') crosses.push(tick.exchangeTime);
    }
    assert.ok(crosses.length > 0, `step ${step}: the closing auction crossed`);
    assert.ok(crosses.every((x) => x === crosses[0] && x >= kst('15:30') && x < kst('15:30') + step), `step ${step}: one cross, in the first step after 15:30:00`);
    assert.ok(new Set(crosses.map(String)).size === 1);
  }
});

test('the 2026 calendar: KRX after-market 16:00-20:00 and closing-price trading 15:40-16:00, NXT 08:00-08:50, 09:00:30-15:20 and 15:40-20:00', () => {
  const phases = (t: string) => `${sessionPhase(kst(t), 'krx')}/${nxtPhase(kst(t), 'krx')}`;
  assert.deepEqual(
    ['07:59', '08:00', '08:30', '08:50', '09:00', '09:00:30', '15:20', '15:30', '15:40', '16:00', '19:59', '20:00'].map(phases),
    ['closed/closed', 'closed/pre-market', 'pre-open/pre-market', 'pre-open/closed', 'regular/closed', 'regular/main', 'closing-auction/closed',
      'closed/closed', 'closing-price/after-market', 'after-market/after-market', 'after-market/after-market', 'closed/closed'],
  );
  assert.equal(nxtPhase(kst('12:00'), 'always'), 'closed', 'the always mode stays KRX regular only');

  const sim = new MarketSimulator({ listings: generateListings(50, 1), seed: 1, ticksPerSecond: 1_000, mode: 'krx', orderBooks: true });
  const early = sim.advance(kst('08:10'), kst('08:10') + 10 * S);
  assert.ok(early.ticks.length > 0 && early.ticks.every((t) => t.venue === 'NXT' && t.marketSession === 'PRE_MARKET'), 'only NXT trades before the KRX open');
  const day = sim.advance(kst('11:00'), kst('11:00') + 10 * S);
  const venues = new Set(day.ticks.map((t) => t.venue));
  assert.deepEqual([...venues].sort(), ['KRX', 'NXT']);
  assert.ok(day.ticks.every((t, i) => i === 0 || t.exchangeTime >= (day.ticks[i - 1] as (typeof day.ticks)[number]).exchangeTime), 'one time line');
  // Each venue keeps its own cumulative volume, rising by each trade's quantity.
  for (const venue of ['KRX', 'NXT'] as const) {
    const last = new Map<string, number>();
    for (const t of day.ticks.filter((x) => x.venue === venue)) {
      const before = last.get(t.symbol);
      if (before !== undefined) assert.equal(t.cumulativeVolume, before + t.quantity);
      last.set(t.symbol, t.cumulativeVolume);
    }
  }
  assert.ok(day.books.some((b) => b.venue === 'NXT'));
  sim.advance(kst('15:20'), kst('15:30'));
  const cross = sim.advance(kst('15:30'), kst('15:30') + S).ticks;
  assert.ok(cross.length > 0 && cross.every((t) => t.side === 'AUCTION' && t.sessionCode === '21' && t.marketSession === 'REGULAR' && t.exchangeTime === kst('15:30')), 'the closing cross, in the regular session');
  const closing = sim.advance(kst('15:40'), kst('15:40') + 60 * S).ticks;
  const closingPrice = closing.filter((t) => t.venue === 'KRX');
  assert.ok(closingPrice.length > 0 && closingPrice.every((t) => t.marketSession === 'CLOSING_PRICE' && t.sessionCode === '31'));
  const after = sim.advance(kst('17:00'), kst('17:00') + 30 * S).ticks;
  assert.ok(after.some((t) => t.venue === 'KRX' && t.marketSession === 'AFTER_MARKET'), 'KRX after-market trades');
  assert.ok(after.some((t) => t.venue === 'NXT' && t.marketSession === 'AFTER_MARKET'), 'NXT after-market trades');
  assert.equal(sim.advance(kst('20:00'), kst('20:00') + 30 * S).ticks.length, 0, 'closed after 20:00');
});
