import type { MarketSession, OrderBook, Tick, TradeSide, Venue } from '../../schemas/generated/types.js';
import { MICROS_PER_SECOND } from '../../lib/time.js';
import { priceLimits, snapToTick, stepPrice, tickSize } from './krx-rules.js';
import type { Listing } from './listings.js';
import { Random } from './random.js';
import { krxIntensity, marketSessionOf, nxtIntensity, nxtPhase, sessionCode, sessionPhase, type SessionMode, type SessionPhase } from './session.js';

export interface SimulatorOptions {
  listings: readonly Listing[];
  seed: number;
  /** Average trades per second over the whole market (scaled by the intraday profile in krx mode). */
  ticksPerSecond: number;
  mode: SessionMode;
  /** Emit an order-book snapshot of the traded symbol after every trade. */
  orderBooks: boolean;
  source?: Tick['source'];
}

export interface MarketEvents {
  ticks: Tick[];
  books: OrderBook[];
}

interface SymbolState {
  listing: Listing;
  fair: number;
  lower: number;
  upper: number;
  bid: number;
  ask: number;
  cumulativeVolume: number;
  cumulativeValue: number;
  /** NXT keeps its own day totals (KIS sends each venue's ACML_VOL). */
  nxtCumulativeVolume: number;
  nxtCumulativeValue: number;
  /** Price of the closing auction: after-hours closing-price trades print at it. */
  closePrice: number;
  sequence: number;
  bookSequence: number;
  /** Per-trade volatility of the fair price (log scale). */
  sigma: number;
}

const BOOK_LEVELS = 10;

/**
 * A seeded model of the whole market. `advance(from, to)` returns the trades (and order books) of the
 * interval in exchange-time order; the same seed and the same calls give the same events, which is
 * what lets tests compute expected candles independently.
 */
export class MarketSimulator {
  private readonly rng: Random;
  private readonly symbols: SymbolState[];
  private readonly alias: { prob: Float64Array; alias: Int32Array };
  private carry = 0;
  private nxtCarry = 0;
  private lastPhase: SessionPhase | null = null;

  constructor(private readonly options: SimulatorOptions) {
    if (options.listings.length === 0) throw new Error('simulator needs at least one listing');
    this.rng = new Random(options.seed);
    this.symbols = options.listings.map((listing) => {
      const { lower, upper } = priceLimits(listing.previousClose);
      const bid = listing.previousClose;
      const state: SymbolState = {
        listing,
        fair: listing.previousClose,
        lower,
        upper,
        bid,
        ask: bid + tickSize(bid),
        cumulativeVolume: 0,
        cumulativeValue: 0,
        nxtCumulativeVolume: 0,
        nxtCumulativeValue: 0,
        closePrice: listing.previousClose,
        sequence: 0,
        bookSequence: 0,
        sigma: listing.dailyVolatility / 60,
      };
      return state;
    });
    this.alias = buildAliasTable(this.symbols.map((s) => s.listing.activity));
  }

  /** Trades in [fromMicros, toMicros), ingested at `ingestMicros`. */
  advance(fromMicros: number, toMicros: number, ingestMicros = toMicros): MarketEvents {
    const events: MarketEvents = { ticks: [], books: [] };
    if (toMicros <= fromMicros) return events;
    const mode = this.options.mode;
    const phase = sessionPhase(fromMicros, mode);
    // Single-price auctions: everything that queued up crosses at one price when the phase ends.
    if (this.lastPhase === 'pre-open' && phase !== 'pre-open') this.auction(fromMicros, ingestMicros, 'pre-open', events);
    if (this.lastPhase === 'closing-auction' && phase !== 'closing-auction') this.auction(fromMicros, ingestMicros, 'closing-auction', events);
    // The phase this step traded in: the next step that starts in another phase crosses its auction.
    // (Remembering the phase at this step's end lost the cross whenever a step ended on or across
    // 15:30:00, which every run's steps do.)
    this.lastPhase = phase;

    const seconds = (toMicros - fromMicros) / MICROS_PER_SECOND;
    const nxt = nxtPhase(fromMicros, mode);
    this.carry += this.options.ticksPerSecond * krxIntensity(fromMicros, phase, mode) * seconds;
    this.nxtCarry += this.options.ticksPerSecond * nxtIntensity(nxt) * seconds;
    const krxCount = Math.floor(this.carry);
    const nxtCount = Math.floor(this.nxtCarry);
    this.carry -= krxCount;
    this.nxtCarry -= nxtCount;
    if (krxCount + nxtCount > 0) {
      // One time line for both venues, so the events stay in exchange-time order.
      const times = new Float64Array(krxCount + nxtCount);
      for (let i = 0; i < times.length; i++) times[i] = fromMicros + Math.floor(this.rng.next() * (toMicros - fromMicros));
      // Indices below krxCount are KRX trades; sorting the indices is needed only when NXT trades too.
      let order: ArrayLike<number>;
      if (nxtCount === 0) {
        times.sort();
        order = Uint32Array.from(times.keys());
      } else {
        order = Array.from(times.keys()).sort((a, b) => (times[a] as number) - (times[b] as number) || a - b);
      }
      const krxCode = sessionCode(phase);
      const nxtCode = sessionCode(nxt);
      for (let k = 0; k < order.length; k++) {
        const i = order[k] as number;
        const s = this.pickSymbol();
        if (i >= krxCount) this.trade(s, times[i] as number, ingestMicros, nxtCode, 'NXT', marketSessionOf(nxt), events);
        else if (phase === 'closing-price') this.print(s, times[i] as number, ingestMicros, s.closePrice, this.rng.next() < 0.5 ? 'BUY' : 'SELL', krxCode, 'KRX', 'CLOSING_PRICE', events);
        else this.trade(s, times[i] as number, ingestMicros, krxCode, 'KRX', marketSessionOf(phase), events);
      }
    }
    if ((phase === 'pre-open' || phase === 'closing-auction') && this.options.orderBooks) {
      // Auctions show expected prices in the book but print no trades until they cross.
      const count = Math.floor(this.options.ticksPerSecond * 0.3 * seconds);
      for (let i = 0; i < count; i++) {
        const s = this.pickSymbol();
        this.drift(s);
        events.books.push(this.book(s, fromMicros, ingestMicros, true, 'KRX', marketSessionOf(phase)));
      }
    }
    return events;
  }

  private pickSymbol(): SymbolState {
    const n = this.symbols.length;
    const i = Math.floor(this.rng.next() * n);
    const k = this.rng.next() < (this.alias.prob[i] as number) ? i : (this.alias.alias[i] as number);
    return this.symbols[k] as SymbolState;
  }

  private drift(s: SymbolState): void {
    s.fair = Math.min(Math.max(s.fair * Math.exp(s.sigma * this.rng.normal()), s.lower), s.upper);
    const bid = Math.min(Math.max(snapToTick(s.fair), s.lower), s.upper);
    s.bid = bid;
    s.ask = Math.min(bid + tickSize(bid), s.upper);
  }

  private trade(s: SymbolState, time: number, ingest: number, code: string, venue: Venue, session: MarketSession, events: MarketEvents): void {
    this.drift(s);
    const buy = this.rng.next() < 0.5;
    const price = buy ? s.ask : s.bid;
    this.print(s, time, ingest, price, buy ? 'BUY' : 'SELL', code, venue, session, events);
  }

  private auction(time: number, ingest: number, phase: SessionPhase, events: MarketEvents): void {
    for (const s of this.symbols) {
      if (this.rng.next() > Math.min(1, s.listing.activity * 50)) continue; // illiquid names may not cross
      this.drift(s);
      if (phase === 'closing-auction') s.closePrice = s.bid;
      // Both crosses belong to the regular session (09:00-15:30): the opening cross is its official
      // open even though its orders queued in the pre-open auction (the trade code still says so).
      this.print(s, time, ingest, s.bid, 'AUCTION', sessionCode(phase), 'KRX', 'REGULAR', events, 20);
    }
  }

  private print(
    s: SymbolState, time: number, ingest: number, price: number, side: TradeSide, code: string,
    venue: Venue, session: MarketSession, events: MarketEvents, sizeFactor = 1,
  ): void {
    // Trade values are log-normal around ≈ 2 million KRW.
    const value = Math.exp(Math.log(2_000_000) + this.rng.normal()) * sizeFactor;
    const quantity = Math.max(1, Math.round(value / price));
    const nxt = venue === 'NXT';
    if (nxt) {
      s.nxtCumulativeVolume += quantity;
      s.nxtCumulativeValue += quantity * price;
    } else {
      s.cumulativeVolume += quantity;
      s.cumulativeValue += quantity * price;
    }
    s.sequence += 1;
    events.ticks.push({
      symbol: s.listing.symbol,
      exchangeTime: time,
      ingestTime: ingest,
      price,
      quantity,
      side,
      cumulativeVolume: nxt ? s.nxtCumulativeVolume : s.cumulativeVolume,
      cumulativeValue: nxt ? s.nxtCumulativeValue : s.cumulativeValue,
      sequence: s.sequence,
      source: this.options.source ?? 'SIMULATOR',
      sessionCode: code,
      halted: false,
      venue,
      marketSession: session,
    });
    if (this.options.orderBooks) events.books.push(this.book(s, time, ingest, false, venue, session));
  }

  /** Ten levels each side on valid tick sizes around the current bid/ask, zero beyond the price limits. */
  book(s: SymbolState, time: number, ingest: number, auction: boolean, venue: Venue, session: MarketSession): OrderBook {
    const askPrices: number[] = [];
    const bidPrices: number[] = [];
    const askQuantities: number[] = [];
    const bidQuantities: number[] = [];
    let totalAsk = 0;
    let totalBid = 0;
    for (let i = 0; i < BOOK_LEVELS; i++) {
      const ap = stepPrice(s.ask, i);
      const bp = stepPrice(s.bid, -i);
      const aOk = ap <= s.upper;
      const bOk = bp >= s.lower && bp > 0;
      const aq = aOk ? Math.round(Math.exp(Math.log(5_000_000 / ap) + 0.8 * this.rng.normal())) + 1 : 0;
      const bq = bOk ? Math.round(Math.exp(Math.log(5_000_000 / bp) + 0.8 * this.rng.normal())) + 1 : 0;
      askPrices.push(aOk ? ap : 0);
      bidPrices.push(bOk ? bp : 0);
      askQuantities.push(aq);
      bidQuantities.push(bq);
      totalAsk += aq;
      totalBid += bq;
    }
    s.bookSequence += 1;
    return {
      symbol: s.listing.symbol,
      exchangeTime: time,
      ingestTime: ingest,
      askPrices,
      askQuantities,
      bidPrices,
      bidQuantities,
      totalAskQuantity: totalAsk,
      totalBidQuantity: totalBid,
      expectedPrice: auction ? s.bid : 0,
      expectedQuantity: auction ? Math.min(totalAsk, totalBid) : 0,
      cumulativeVolume: venue === 'NXT' ? s.nxtCumulativeVolume : s.cumulativeVolume,
      hourClassCode: auction ? 'B' : '0',
      sequence: s.bookSequence,
      source: this.options.source ?? 'SIMULATOR',
      venue,
      marketSession: session,
    };
  }
}

/** Walker's alias method: O(1) weighted choice of a symbol per trade, whatever the market size. */
function buildAliasTable(weights: readonly number[]): { prob: Float64Array; alias: Int32Array } {
  const n = weights.length;
  const sum = weights.reduce((a, b) => a + b, 0);
  const scaled = weights.map((w) => (w * n) / sum);
  const prob = new Float64Array(n);
  const alias = new Int32Array(n);
  const small: number[] = [];
  const large: number[] = [];
  scaled.forEach((p, i) => (p < 1 ? small : large).push(i));
  while (small.length > 0 && large.length > 0) {
    const s = small.pop() as number;
    const l = large.pop() as number;
    prob[s] = scaled[s] as number;
    alias[s] = l;
    scaled[l] = (scaled[l] as number) + (scaled[s] as number) - 1;
    ((scaled[l] as number) < 1 ? small : large).push(l);
  }
  for (const i of [...small, ...large]) prob[i] = 1;
  return { prob, alias };
}
