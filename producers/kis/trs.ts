/**
 * The KIS real-time TR ids this producer understands and their record layouts, field by field as
 * /work/shared/reference/kis-websocket.md §4 lists them. Positions are looked up by name from these
 * lists so a layout is written down exactly once.
 */

/**
 * H0STCNT0 (KRX trades); H0UNCNT0 (KRX+NXT) and H0NXCNT0 (NXT) carry the same 46 fields. Since
 * 2026-09-14 a 47th, MARKET_CLS_CODE, follows (TRADE_FIELDS_2026); it is read when a record has it.
 */
export const TRADE_FIELDS = [
  'MKSC_SHRN_ISCD', 'STCK_CNTG_HOUR', 'STCK_PRPR', 'PRDY_VRSS_SIGN', 'PRDY_VRSS', 'PRDY_CTRT',
  'WGHN_AVRG_STCK_PRC', 'STCK_OPRC', 'STCK_HGPR', 'STCK_LWPR', 'ASKP1', 'BIDP1', 'CNTG_VOL', 'ACML_VOL',
  'ACML_TR_PBMN', 'SELN_CNTG_CSNU', 'SHNU_CNTG_CSNU', 'NTBY_CNTG_CSNU', 'CTTR', 'SELN_CNTG_SMTN',
  'SHNU_CNTG_SMTN', 'CCLD_DVSN', 'SHNU_RATE', 'PRDY_VOL_VRSS_ACML_VOL_RATE', 'OPRC_HOUR',
  'OPRC_VRSS_PRPR_SIGN', 'OPRC_VRSS_PRPR', 'HGPR_HOUR', 'HGPR_VRSS_PRPR_SIGN', 'HGPR_VRSS_PRPR',
  'LWPR_HOUR', 'LWPR_VRSS_PRPR_SIGN', 'LWPR_VRSS_PRPR', 'BSOP_DATE', 'NEW_MKOP_CLS_CODE', 'TRHT_YN',
  'ASKP_RSQN1', 'BIDP_RSQN1', 'TOTAL_ASKP_RSQN', 'TOTAL_BIDP_RSQN', 'VOL_TNRT',
  'PRDY_SMNS_HOUR_ACML_VOL', 'PRDY_SMNS_HOUR_ACML_VOL_RATE', 'HOUR_CLS_CODE', 'MRKT_TRTM_CLS_CODE',
  'VI_STND_PRC',
] as const;

export const TRADE_FIELDS_2026 = [...TRADE_FIELDS, 'MARKET_CLS_CODE'] as const;

const levels = (prefix: string) => Array.from({ length: 10 }, (_, i) => `${prefix}${i + 1}`);

/** H0STASP0 (KRX order book), 59 fields. */
export const BOOK_FIELDS = [
  'MKSC_SHRN_ISCD', 'BSOP_HOUR', 'HOUR_CLS_CODE',
  ...levels('ASKP'), ...levels('BIDP'), ...levels('ASKP_RSQN'), ...levels('BIDP_RSQN'),
  'TOTAL_ASKP_RSQN', 'TOTAL_BIDP_RSQN', 'OVTM_TOTAL_ASKP_RSQN', 'OVTM_TOTAL_BIDP_RSQN', 'ANTC_CNPR',
  'ANTC_CNQN', 'ANTC_VOL', 'ANTC_CNTG_VRSS', 'ANTC_CNTG_VRSS_SIGN', 'ANTC_CNTG_PRDY_CTRT', 'ACML_VOL',
  'TOTAL_ASKP_RSQN_ICDC', 'TOTAL_BIDP_RSQN_ICDC', 'OVTM_TOTAL_ASKP_ICDC', 'OVTM_TOTAL_BIDP_ICDC',
  'STCK_DEAL_CLS_CODE',
] as const;

/** H0STASP0 since 2026-09-14: 63 fields, the mid-price fields and MARKET_CLS_CODE appended (official asking_price_krx.py). */
export const BOOK_FIELDS_2026 = [...BOOK_FIELDS, 'MID_PRC', 'MIDP_TOTAL_RSQN', 'MIDP_CLS_CODE', 'MARKET_CLS_CODE'] as const;

/** H0UNASP0 / H0NXASP0: the 59 KRX fields followed by six NXT mid-price fields (65 in all). */
export const COMBINED_BOOK_FIELDS = [
  ...BOOK_FIELDS, 'KMID_PRC', 'KMID_TOTAL_RSQN', 'KMID_CLS_CODE', 'NMID_PRC', 'NMID_TOTAL_RSQN', 'NMID_CLS_CODE',
] as const;

/** H0UNASP0 since 2026-09-14: 66 fields, ANTC_EXCH_CLS_CODE appended (its position is our assumption; it is not read). */
export const COMBINED_BOOK_FIELDS_2026 = [...COMBINED_BOOK_FIELDS, 'ANTC_EXCH_CLS_CODE'] as const;

export type TrKind = 'trade' | 'book';
export type TrVenue = 'KRX' | 'NXT' | 'INTEGRATED';

export interface TrSpec {
  id: string;
  kind: TrKind;
  /** Field count the reference gives; a frame may announce a larger per-record width (see frame.ts). */
  fields: number;
  /** H0UN* and H0NX* are only served to real accounts. */
  realOnly: boolean;
  /** What the records' venue is: the TR says it (the records do not). */
  venue: TrVenue;
  /** Position of MARKET_CLS_CODE in the current (2026-09-14) layout; read when the record is that wide. */
  marketClassAt: number | undefined;
  doc: string;
}

const TRADE_MARKET_CLASS = TRADE_FIELDS_2026.indexOf('MARKET_CLS_CODE');
const BOOK_MARKET_CLASS = BOOK_FIELDS_2026.indexOf('MARKET_CLS_CODE');

/** Field counts are the old (minimum) layouts: a wider record is read by position (see frame.ts). */
export const TRS: Readonly<Record<string, TrSpec>> = Object.freeze({
  H0STCNT0: { id: 'H0STCNT0', kind: 'trade', fields: TRADE_FIELDS.length, realOnly: false, venue: 'KRX', marketClassAt: TRADE_MARKET_CLASS, doc: 'KRX trades' },
  H0STASP0: { id: 'H0STASP0', kind: 'book', fields: BOOK_FIELDS.length, realOnly: false, venue: 'KRX', marketClassAt: BOOK_MARKET_CLASS, doc: 'KRX order book' },
  H0NXCNT0: { id: 'H0NXCNT0', kind: 'trade', fields: TRADE_FIELDS.length, realOnly: true, venue: 'NXT', marketClassAt: TRADE_MARKET_CLASS, doc: 'NXT (Nextrade) trades' },
  H0NXASP0: { id: 'H0NXASP0', kind: 'book', fields: COMBINED_BOOK_FIELDS.length, realOnly: true, venue: 'NXT', marketClassAt: undefined, doc: 'NXT (Nextrade) order book' },
  H0UNCNT0: { id: 'H0UNCNT0', kind: 'trade', fields: TRADE_FIELDS.length, realOnly: true, venue: 'INTEGRATED', marketClassAt: TRADE_MARKET_CLASS, doc: 'KRX+NXT combined trades' },
  H0UNASP0: { id: 'H0UNASP0', kind: 'book', fields: COMBINED_BOOK_FIELDS.length, realOnly: true, venue: 'INTEGRATED', marketClassAt: undefined, doc: 'KRX+NXT combined order book' },
});

export const SUPPORTED_TR_IDS = Object.keys(TRS);

export function trSpec(trId: string): TrSpec | undefined {
  return Object.hasOwn(TRS, trId) ? TRS[trId] : undefined;
}

function indexOf<T extends readonly string[]>(fields: T, name: T[number]): number {
  const i = fields.indexOf(name);
  if (i < 0) throw new Error(`unknown field ${name}`);
  return i;
}

/** Positions in a trade record. */
export const T = {
  symbol: indexOf(TRADE_FIELDS, 'MKSC_SHRN_ISCD'),
  hour: indexOf(TRADE_FIELDS, 'STCK_CNTG_HOUR'),
  price: indexOf(TRADE_FIELDS, 'STCK_PRPR'),
  quantity: indexOf(TRADE_FIELDS, 'CNTG_VOL'),
  cumulativeVolume: indexOf(TRADE_FIELDS, 'ACML_VOL'),
  cumulativeValue: indexOf(TRADE_FIELDS, 'ACML_TR_PBMN'),
  side: indexOf(TRADE_FIELDS, 'CCLD_DVSN'),
  date: indexOf(TRADE_FIELDS, 'BSOP_DATE'),
  sessionCode: indexOf(TRADE_FIELDS, 'NEW_MKOP_CLS_CODE'),
  halt: indexOf(TRADE_FIELDS, 'TRHT_YN'),
} as const;

/** Positions in an order-book record (the same in the 59- and 65-field layouts). */
export const B = {
  symbol: indexOf(BOOK_FIELDS, 'MKSC_SHRN_ISCD'),
  hour: indexOf(BOOK_FIELDS, 'BSOP_HOUR'),
  hourClass: indexOf(BOOK_FIELDS, 'HOUR_CLS_CODE'),
  askPrice1: indexOf(BOOK_FIELDS, 'ASKP1'),
  bidPrice1: indexOf(BOOK_FIELDS, 'BIDP1'),
  askQuantity1: indexOf(BOOK_FIELDS, 'ASKP_RSQN1'),
  bidQuantity1: indexOf(BOOK_FIELDS, 'BIDP_RSQN1'),
  totalAsk: indexOf(BOOK_FIELDS, 'TOTAL_ASKP_RSQN'),
  totalBid: indexOf(BOOK_FIELDS, 'TOTAL_BIDP_RSQN'),
  expectedPrice: indexOf(BOOK_FIELDS, 'ANTC_CNPR'),
  expectedQuantity: indexOf(BOOK_FIELDS, 'ANTC_CNQN'),
  cumulativeVolume: indexOf(BOOK_FIELDS, 'ACML_VOL'),
} as const;
