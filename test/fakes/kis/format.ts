import { priceLimits, tickSize } from '../../../producers/simulator/krx-rules.js';
import type { Listing } from '../../../producers/simulator/listings.js';
import type { MarketSession, OrderBook, Tick } from '../../../schemas/generated/types.js';
import { H0STASP0, H0STASP0_2026, H0STCNT0, H0STCNT0_2026, H0UNASP0, H0UNASP0_2026 } from './layout.js';

const KST_OFFSET_MS = 9 * 3600 * 1000;

/** KST wall clock of an epoch-micros instant, as KIS writes it: YYYYMMDD and HHMMSS. */
export function kstParts(utcMicros: number): { date: string; time: string } {
  const d = new Date(Math.floor(utcMicros / 1000) + KST_OFFSET_MS);
  const p = (n: number) => String(n).padStart(2, '0');
  return {
    date: `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}`,
    time: `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`,
  };
}

/** Sign codes vs. the previous close: 1 upper limit, 2 up, 3 flat, 4 lower limit, 5 down. */
function prdySign(price: number, prev: number, lower: number, upper: number): string {
  if (price >= upper) return '1';
  if (price <= lower) return '4';
  return price > prev ? '2' : price === prev ? '3' : '5';
}

/** Sign codes vs. the open, high or low of the day (no limit codes there). */
const sign = (diff: number) => (diff > 0 ? '2' : diff === 0 ? '3' : '5');
const pct = (num: number, den: number) => (den === 0 ? '0.00' : ((num / den) * 100).toFixed(2));

interface Day {
  listing: Listing;
  lower: number;
  upper: number;
  open: number;
  high: number;
  low: number;
  openHour: string;
  highHour: string;
  lowHour: string;
  sellCount: number;
  buyCount: number;
  sellVolume: number;
  buyVolume: number;
  book: { ask1: number; bid1: number; askQty1: number; bidQty1: number; totalAsk: number; totalBid: number } | null;
  /** Both venues together, for the integrated feed (H0UNCNT0). */
  combinedVolume: number;
  combinedValue: number;
}

/** MARKET_CLS_CODE (KIS notice of 2026-09-09): 1 pre-market, 2 regular, 3 after-market, 5 closing price. */
const MARKET_CLASS: Record<MarketSession, string> = { PRE_MARKET: '1', REGULAR: '2', AFTER_MARKET: '3', CLOSING_PRICE: '5', UNKNOWN: '' };

const index = (layout: readonly string[]) => Object.fromEntries(layout.map((n, i) => [n, i])) as Record<string, number>;
const CNT = index(H0STCNT0_2026);
const ASP = index([...H0UNASP0_2026]);
const ASP_KRX = index(H0STASP0_2026);
const levels = (p: string) => Array.from({ length: 10 }, (_, i) => ASP[`${p}${i + 1}`] as number);
const ASK = levels('ASKP');
const BID = levels('BIDP');
const ASK_Q = levels('ASKP_RSQN');
const BID_Q = levels('BIDP_RSQN');

/**
 * Formats the simulator's Tick and OrderBook records into H0STCNT0 (46 fields) and H0STASP0 (59) /
 * H0UNASP0 (65) records, keeping the day's statistics per symbol that KIS sends with every trade
 * (open/high/low and their times, buy/sell counts and volumes, best quotes). All values are strings;
 * negatives are written with '-'; times are KST.
 */
export class KisRecordFormatter {
  private readonly days = new Map<string, Day>();

  constructor(listings: readonly Listing[]) {
    for (const listing of listings) {
      const { lower, upper } = priceLimits(listing.previousClose);
      this.days.set(listing.symbol, {
        listing, lower, upper, open: 0, high: 0, low: 0, openHour: '', highHour: '', lowHour: '',
        sellCount: 0, buyCount: 0, sellVolume: 0, buyVolume: 0, book: null, combinedVolume: 0, combinedValue: 0,
      });
    }
  }

  private day(symbol: string): Day {
    const d = this.days.get(symbol);
    if (!d) throw new Error(`fake KIS: ${symbol} is not a listing of the simulator`);
    return d;
  }

  /** The last trade's record as the integrated feed sends it (ACML_VOL of both venues), and that volume. */
  lastCombined = { record: '', cumulativeVolume: 0 };

  /**
   * Updates the day's statistics with a trade and returns its record (joined with '^'): 46 fields, or
   * the 47 of the current layout (MARKET_CLS_CODE last). With `combined`, `lastCombined` then holds its
   * integrated form (only then: a burst of the benchmark formats hundreds of thousands of trades).
   */
  trade(t: Tick, layout2026 = false, combined = false): string {
    const d = this.day(t.symbol);
    d.combinedVolume += t.quantity;
    d.combinedValue += t.quantity * t.price;
    const { date, time } = kstParts(t.exchangeTime);
    if (d.open === 0) {
      d.open = d.high = d.low = t.price;
      d.openHour = d.highHour = d.lowHour = time;
    }
    if (t.price > d.high) [d.high, d.highHour] = [t.price, time];
    if (t.price < d.low) [d.low, d.lowHour] = [t.price, time];
    if (t.side === 'SELL') {
      d.sellCount++;
      d.sellVolume += t.quantity;
    } else if (t.side === 'BUY') {
      d.buyCount++;
      d.buyVolume += t.quantity;
    }
    const prev = d.listing.previousClose;
    const book = d.book ?? { ask1: t.price + tickSize(t.price), bid1: t.price, askQty1: 0, bidQty1: 0, totalAsk: 0, totalBid: 0 };
    const r: string[] = new Array(layout2026 ? H0STCNT0_2026.length : H0STCNT0.length);
    r[CNT['MKSC_SHRN_ISCD'] as number] = t.symbol;
    r[CNT['STCK_CNTG_HOUR'] as number] = time;
    r[CNT['STCK_PRPR'] as number] = String(t.price);
    r[CNT['PRDY_VRSS_SIGN'] as number] = prdySign(t.price, prev, d.lower, d.upper);
    r[CNT['PRDY_VRSS'] as number] = String(t.price - prev);
    r[CNT['PRDY_CTRT'] as number] = pct(t.price - prev, prev);
    r[CNT['WGHN_AVRG_STCK_PRC'] as number] = (t.cumulativeValue / t.cumulativeVolume).toFixed(2);
    r[CNT['STCK_OPRC'] as number] = String(d.open);
    r[CNT['STCK_HGPR'] as number] = String(d.high);
    r[CNT['STCK_LWPR'] as number] = String(d.low);
    r[CNT['ASKP1'] as number] = String(book.ask1);
    r[CNT['BIDP1'] as number] = String(book.bid1);
    r[CNT['CNTG_VOL'] as number] = String(t.quantity);
    r[CNT['ACML_VOL'] as number] = String(t.cumulativeVolume);
    r[CNT['ACML_TR_PBMN'] as number] = String(t.cumulativeValue);
    r[CNT['SELN_CNTG_CSNU'] as number] = String(d.sellCount);
    r[CNT['SHNU_CNTG_CSNU'] as number] = String(d.buyCount);
    r[CNT['NTBY_CNTG_CSNU'] as number] = String(d.buyCount - d.sellCount);
    r[CNT['CTTR'] as number] = pct(d.buyVolume, d.sellVolume);
    r[CNT['SELN_CNTG_SMTN'] as number] = String(d.sellVolume);
    r[CNT['SHNU_CNTG_SMTN'] as number] = String(d.buyVolume);
    r[CNT['CCLD_DVSN'] as number] = t.side === 'BUY' ? '1' : t.side === 'SELL' ? '5' : t.side === 'AUCTION' ? '3' : '';
    r[CNT['SHNU_RATE'] as number] = pct(d.buyVolume, t.cumulativeVolume);
    r[CNT['PRDY_VOL_VRSS_ACML_VOL_RATE'] as number] = '0.00';
    r[CNT['OPRC_HOUR'] as number] = d.openHour;
    r[CNT['OPRC_VRSS_PRPR_SIGN'] as number] = sign(t.price - d.open);
    r[CNT['OPRC_VRSS_PRPR'] as number] = String(t.price - d.open);
    r[CNT['HGPR_HOUR'] as number] = d.highHour;
    r[CNT['HGPR_VRSS_PRPR_SIGN'] as number] = sign(t.price - d.high);
    r[CNT['HGPR_VRSS_PRPR'] as number] = String(t.price - d.high);
    r[CNT['LWPR_HOUR'] as number] = d.lowHour;
    r[CNT['LWPR_VRSS_PRPR_SIGN'] as number] = sign(t.price - d.low);
    r[CNT['LWPR_VRSS_PRPR'] as number] = String(t.price - d.low);
    r[CNT['BSOP_DATE'] as number] = date;
    r[CNT['NEW_MKOP_CLS_CODE'] as number] = t.sessionCode;
    r[CNT['TRHT_YN'] as number] = t.halted ? 'Y' : 'N';
    r[CNT['ASKP_RSQN1'] as number] = String(book.askQty1);
    r[CNT['BIDP_RSQN1'] as number] = String(book.bidQty1);
    r[CNT['TOTAL_ASKP_RSQN'] as number] = String(book.totalAsk);
    r[CNT['TOTAL_BIDP_RSQN'] as number] = String(book.totalBid);
    r[CNT['VOL_TNRT'] as number] = '0.00';
    r[CNT['PRDY_SMNS_HOUR_ACML_VOL'] as number] = '0';
    r[CNT['PRDY_SMNS_HOUR_ACML_VOL_RATE'] as number] = '0.00';
    r[CNT['HOUR_CLS_CODE'] as number] = t.side === 'AUCTION' ? 'B' : '0';
    r[CNT['MRKT_TRTM_CLS_CODE'] as number] = ''; // empty in the recorded frame too
    r[CNT['VI_STND_PRC'] as number] = String(d.open);
    if (layout2026) r[CNT['MARKET_CLS_CODE'] as number] = MARKET_CLASS[t.marketSession];
    const record = r.join('^');
    if (!combined) return record;
    r[CNT['ACML_VOL'] as number] = String(d.combinedVolume);
    r[CNT['ACML_TR_PBMN'] as number] = String(d.combinedValue);
    this.lastCombined = { record: r.join('^'), cumulativeVolume: d.combinedVolume };
    return record;
  }

  /** Updates the best quotes a later trade record carries, without formatting the book. */
  noteBook(b: OrderBook): void {
    this.day(b.symbol).book = {
      ask1: b.askPrices[0] ?? 0, bid1: b.bidPrices[0] ?? 0, askQty1: b.askQuantities[0] ?? 0, bidQty1: b.bidQuantities[0] ?? 0,
      totalAsk: b.totalAskQuantity, totalBid: b.totalBidQuantity,
    };
  }

  /**
   * Updates the best quotes and returns the book record: 59 fields (H0STASP0) or, with `combined`,
   * the 65 of H0UNASP0 / H0NXASP0 (the KRX fields, then the NXT mid-price fields); with `layout2026`
   * the current 63 (H0STASP0: mid price and MARKET_CLS_CODE appended) or 66 (H0UNASP0: ANTC_EXCH_CLS_CODE).
   */
  book(b: OrderBook, combined: boolean, layout2026 = false): string {
    const d = this.day(b.symbol);
    const prevTotals = d.book;
    const ask1 = b.askPrices[0] ?? 0;
    const bid1 = b.bidPrices[0] ?? 0;
    this.noteBook(b);
    const prev = d.listing.previousClose;
    const r: string[] = new Array(combined ? (layout2026 ? H0UNASP0_2026 : H0UNASP0).length : (layout2026 ? H0STASP0_2026 : H0STASP0).length);
    r[ASP['MKSC_SHRN_ISCD'] as number] = b.symbol;
    r[ASP['BSOP_HOUR'] as number] = kstParts(b.exchangeTime).time;
    r[ASP['HOUR_CLS_CODE'] as number] = b.hourClassCode;
    for (let i = 0; i < 10; i++) {
      r[ASK[i] as number] = String(b.askPrices[i] ?? 0);
      r[BID[i] as number] = String(b.bidPrices[i] ?? 0);
      r[ASK_Q[i] as number] = String(b.askQuantities[i] ?? 0);
      r[BID_Q[i] as number] = String(b.bidQuantities[i] ?? 0);
    }
    r[ASP['TOTAL_ASKP_RSQN'] as number] = String(b.totalAskQuantity);
    r[ASP['TOTAL_BIDP_RSQN'] as number] = String(b.totalBidQuantity);
    r[ASP['OVTM_TOTAL_ASKP_RSQN'] as number] = '0';
    r[ASP['OVTM_TOTAL_BIDP_RSQN'] as number] = '0';
    r[ASP['ANTC_CNPR'] as number] = String(b.expectedPrice);
    r[ASP['ANTC_CNQN'] as number] = String(b.expectedQuantity);
    r[ASP['ANTC_VOL'] as number] = String(b.expectedQuantity);
    const antc = b.expectedPrice > 0 ? b.expectedPrice - prev : 0;
    r[ASP['ANTC_CNTG_VRSS'] as number] = String(antc);
    r[ASP['ANTC_CNTG_VRSS_SIGN'] as number] = b.expectedPrice > 0 ? prdySign(b.expectedPrice, prev, d.lower, d.upper) : '3';
    r[ASP['ANTC_CNTG_PRDY_CTRT'] as number] = pct(antc, prev);
    r[ASP['ACML_VOL'] as number] = String(b.cumulativeVolume);
    r[ASP['TOTAL_ASKP_RSQN_ICDC'] as number] = String(b.totalAskQuantity - (prevTotals?.totalAsk ?? 0));
    r[ASP['TOTAL_BIDP_RSQN_ICDC'] as number] = String(b.totalBidQuantity - (prevTotals?.totalBid ?? 0));
    r[ASP['OVTM_TOTAL_ASKP_ICDC'] as number] = '0';
    r[ASP['OVTM_TOTAL_BIDP_ICDC'] as number] = '0';
    r[ASP['STCK_DEAL_CLS_CODE'] as number] = '0';
    if (combined) {
      const mid = ask1 > 0 && bid1 > 0 ? Math.floor((ask1 + bid1) / 2) : 0;
      r[ASP['KMID_PRC'] as number] = String(mid);
      r[ASP['KMID_TOTAL_RSQN'] as number] = '0';
      r[ASP['KMID_CLS_CODE'] as number] = '0';
      r[ASP['NMID_PRC'] as number] = String(mid);
      r[ASP['NMID_TOTAL_RSQN'] as number] = '0';
      r[ASP['NMID_CLS_CODE'] as number] = '0';
      if (layout2026) r[ASP['ANTC_EXCH_CLS_CODE'] as number] = b.venue === 'NXT' ? '2' : '1';
    } else if (layout2026) {
      r[ASP_KRX['MID_PRC'] as number] = String(ask1 > 0 && bid1 > 0 ? Math.floor((ask1 + bid1) / 2) : 0);
      r[ASP_KRX['MIDP_TOTAL_RSQN'] as number] = '0';
      r[ASP_KRX['MIDP_CLS_CODE'] as number] = '0';
      r[ASP_KRX['MARKET_CLS_CODE'] as number] = MARKET_CLASS[b.marketSession];
    }
    return r.join('^');
  }
}
