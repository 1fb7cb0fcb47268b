import { priceLimits, snapToTick } from '../../../producers/simulator/krx-rules.js';
import { generateListings, type Listing, type Market } from '../../../producers/simulator/listings.js';
import { epochDayToIso, isoToEpochDay } from '../../../lib/time.js';

/**
 * The fake KRX's market history: the simulator's listings (same seed, same codes, names and price
 * levels) given a daily history for any date, computed in O(1) per stock and day with no state,
 * so any date range can be served in any order and every run gives the same numbers.
 *
 * Prices: log close = log(the simulator's previous close) + slow waves + a per-day noise, pinned so
 * that the close of ANCHOR_DAY is the simulator's price. Daily moves stay far inside KRX's ±30 %
 * limit by construction; a stock is halted on ~0.2 % of days (KRX then reports open/high/low 0, no
 * volume, the previous close).
 */

export interface FakeStock {
  listing: Listing;
  isin: string;
  nameKo: string;
  fullNameKo: string;
  englishName: string;
  /** Shown as MKT_NM: KOSDAQ GLOBAL is a KOSDAQ segment. */
  marketName: 'KOSPI' | 'KOSDAQ' | 'KOSDAQ GLOBAL' | 'KONEX';
  section: string;
  parValue: number | null;
  listedShares: number;
  listingDay: number;
  /** Per-stock wave parameters. */
  waves: [number, number, number, number, number, number];
  volatility: number;
  baseVolume: number;
}

export interface FakeBar {
  stock: FakeStock;
  day: number;
  open: number;
  high: number;
  low: number;
  close: number;
  change: number;
  changeRate: number;
  volume: number;
  tradedValue: number;
  marketCap: number;
}

const ANCHOR_DAY = isoToEpochDay('2026-11-30');

const KOREAN_NAMES: Record<string, string> = {
  '005930': '삼성전자', '000660': 'SK하이닉스', '373220': 'LG에너지솔루션', '207940': '삼성바이오로직스',
  '005380': '현대차', '035420': 'NAVER', '035720': '카카오', '051910': 'LG화학', '068270': '셀트리온', '105560': 'KB금융',
};
const OLD_LISTINGS: Record<string, string> = {
  '005930': '1975-06-11', '000660': '1996-12-26', '373220': '2022-01-27', '207940': '2016-11-10', '005380': '1974-06-28',
  '035420': '2008-11-28', '035720': '2017-07-10', '051910': '2001-04-25', '068270': '2018-02-09', '105560': '2008-10-10',
};
const KOSDAQ_SECTIONS = ['우량기업부', '벤처기업부', '중견기업부', '기술성장기업부'];

/** A stateless 32-bit hash of a few integers → uniform [0, 1). */
export function unit(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x | 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    h = Math.imul(h, 0x297a2d39);
    h ^= h >>> 15;
  }
  return (h >>> 0) / 4294967296;
}

/** ISO 6166 check digit: letters become two digits (A=10), then Luhn from the right. */
export function isinFor(code: string): string {
  const body = `KR7${code}00`;
  const digits = [...body].map((c) => (/[0-9]/.test(c) ? c : String(c.charCodeAt(0) - 55))).join('');
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return `${body}${(10 - (sum % 10)) % 10}`;
}

/** Korean public holidays on fixed dates, plus the 31st of December (KRX year-end closing). */
const FIXED_HOLIDAYS = ['01-01', '03-01', '05-05', '06-06', '08-15', '10-03', '10-09', '12-25', '12-31'];

export class FakeKrxMarket {
  readonly stocks: FakeStock[];
  private readonly byCode = new Map<string, FakeStock>();
  /** code → first day it is no longer listed. */
  private readonly delistedFrom = new Map<string, number>();

  constructor(readonly universe = 2_880, readonly seed = 42) {
    this.stocks = generateListings(universe, seed).map((l, i) => this.describe(l, i));
    for (const s of this.stocks) this.byCode.set(s.listing.symbol, s);
  }

  private describe(listing: Listing, i: number): FakeStock {
    const n = Number(listing.symbol);
    const u = (salt: number) => unit(this.seed, n, salt);
    const market = listing.market;
    const marketName = market === 'KOSDAQ' && u(1) < 0.03 ? 'KOSDAQ GLOBAL' : market;
    // Three in four listed before 2015; the rest over 2015..2026, so a backfill sees listings arrive.
    const listed = OLD_LISTINGS[listing.symbol] ?? epochDayToIso(
      u(2) < 0.75 ? isoToEpochDay('1990-01-01') + Math.floor(u(3) * 9_000) : isoToEpochDay('2015-01-01') + Math.floor(u(3) * 4_200),
    );
    const cap = Math.exp(Math.log(market === 'KOSPI' ? 5e11 : market === 'KOSDAQ' ? 1e11 : 2e10) + (u(4) - 0.5) * 3) * (i < 10 ? 40 : 1);
    const nameKo = KOREAN_NAMES[listing.symbol] ?? `시뮬${listing.symbol}`;
    return {
      listing,
      isin: isinFor(listing.symbol),
      nameKo,
      fullNameKo: `${nameKo}보통주`,
      englishName: listing.name,
      marketName,
      section: market === 'KOSDAQ' ? (KOSDAQ_SECTIONS[Math.floor(u(5) * 4)] as string) : market === 'KONEX' ? '일반기업부' : '',
      parValue: u(6) < 0.1 ? null : ([100, 500, 5000] as const)[Math.floor(u(7) * 3)] as number,
      listedShares: Math.max(100_000, Math.round(cap / listing.previousClose)),
      listingDay: isoToEpochDay(listed),
      waves: [0.05 + u(8) * 0.25, 60 + u(9) * 500, u(10) * 6.28, 0.02 + u(11) * 0.1, 15 + u(12) * 60, u(13) * 6.28],
      volatility: Math.min(0.04, listing.dailyVolatility),
      baseVolume: Math.max(200, Math.round((3e9 * listing.activity) / listing.previousClose + u(14) * 50_000)),
    };
  }

  stock(code: string): FakeStock | undefined {
    return this.byCode.get(code);
  }

  static isWeekend(day: number): boolean {
    const dow = (day + 4) % 7; // 1970-01-01 was a Thursday
    return dow === 0 || dow === 6;
  }

  private readonly holidays = new Map<number, boolean>();

  /** Holidays: fixed public holidays and three-day Seollal and Chuseok placed per year by a hash. */
  isHoliday(day: number): boolean {
    let h = this.holidays.get(day);
    if (h === undefined) {
      h = this.computeHoliday(day);
      this.holidays.set(day, h);
    }
    return h;
  }

  private computeHoliday(day: number): boolean {
    const iso = epochDayToIso(day);
    if (FIXED_HOLIDAYS.includes(iso.slice(5))) return true;
    const year = Number(iso.slice(0, 4));
    const seollal = isoToEpochDay(`${year}-01-21`) + Math.floor(unit(year, 1) * 28);
    const chuseok = isoToEpochDay(`${year}-09-08`) + Math.floor(unit(year, 2) * 28);
    return (day >= seollal && day < seollal + 3) || (day >= chuseok && day < chuseok + 3);
  }

  isTradingDay(day: number): boolean {
    return !FakeKrxMarket.isWeekend(day) && !this.isHoliday(day);
  }

  previousTradingDay(day: number): number {
    let d = day - 1;
    while (!this.isTradingDay(d)) d--;
    return d;
  }

  /** Listed on `day`: listed on or before it and not delisted yet. */
  isListed(s: FakeStock, day: number): boolean {
    const gone = this.delistedFrom.get(s.listing.symbol);
    return s.listingDay <= day && (gone === undefined || day < gone);
  }

  /** Takes a stock off the market from `day` on (it vanishes from listings and daily reports). */
  delist(code: string, day: number): void {
    if (!this.byCode.has(code)) throw new Error(`unknown code ${code}`);
    this.delistedFrom.set(code, day);
  }

  listingsOn(day: number, market?: Market): FakeStock[] {
    return this.stocks.filter((s) => this.isListed(s, day) && (market === undefined || s.listing.market === market));
  }

  private halted(s: FakeStock, day: number): boolean {
    return unit(this.seed, Number(s.listing.symbol), day, 99) < 0.002;
  }

  private logWave(s: FakeStock, day: number): number {
    const [a1, p1, f1, a2, p2, f2] = s.waves;
    return a1 * Math.sin((2 * Math.PI * day) / p1 + f1) + a2 * Math.sin((2 * Math.PI * day) / p2 + f2);
  }

  /** The close of a trading day; a halted day keeps the previous close. */
  close(s: FakeStock, day: number): number {
    let d = day;
    while (this.halted(s, d)) d = this.previousTradingDay(d);
    const noise = (unit(this.seed, Number(s.listing.symbol), d, 1) - 0.5) * 2 * s.volatility;
    const log = Math.log(s.listing.previousClose) + this.logWave(s, d) - this.logWave(s, ANCHOR_DAY) + noise;
    return snapToTick(Math.exp(log));
  }

  /** The bar of a listed stock on a trading day. */
  bar(s: FakeStock, day: number): FakeBar {
    const prev = this.close(s, this.previousTradingDay(day));
    const close = this.close(s, day);
    const change = close - prev;
    const changeRate = Math.round((change / prev) * 10_000) / 100;
    const marketCap = close * s.listedShares;
    if (this.halted(s, day)) {
      return { stock: s, day, open: 0, high: 0, low: 0, close, change, changeRate, volume: 0, tradedValue: 0, marketCap };
    }
    const u = (salt: number) => unit(this.seed, Number(s.listing.symbol), day, salt);
    const { lower, upper } = priceLimits(prev);
    const clamp = (p: number) => Math.min(upper, Math.max(lower, snapToTick(p)));
    const open = clamp(prev * (1 + (u(2) - 0.5) * s.volatility));
    const high = clamp(Math.max(open, close) * (1 + u(3) * s.volatility * 0.5));
    const low = clamp(Math.min(open, close) * (1 - u(4) * s.volatility * 0.5));
    const volume = Math.max(1, Math.round(s.baseVolume * (0.3 + u(5) * 1.4)));
    const tradedValue = Math.round(volume * ((open + high + low + close) / 4));
    return { stock: s, day, open, high: Math.max(high, open, close), low: Math.min(low, open, close), close, change, changeRate, volume, tradedValue, marketCap };
  }

  /** Every listed stock's bar on `day`, or null for a day without trading (weekend or holiday). */
  barsOn(day: number, market?: Market): FakeBar[] | null {
    if (!this.isTradingDay(day)) return null;
    return this.listingsOn(day, market).map((s) => this.bar(s, day));
  }
}
