import { epochDayToIso } from '../../../lib/time.js';
import type { FakeBar, FakeStock } from './market.js';

/**
 * The recorded formats (reference krx-data.md): data.krx.co.kr writes numbers as strings with
 * thousands separators, dates as YYYY/MM/DD, `-` for the prices of a day without trading; the Open
 * API writes the same fields without separators and dates as YYYYMMDD.
 */

/** 910274405 → "910,274,405"; negative numbers keep their sign in front. */
export function withSeparators(n: number): string {
  if (n < 0) return `-${withSeparators(-n)}`;
  if (n < 1000) return String(n);
  const rest = n % 1000;
  return `${withSeparators((n - rest) / 1000)},${rest < 10 ? '00' : rest < 100 ? '0' : ''}${rest}`;
}

const slashDate = (day: number) => epochDayToIso(day).replace(/-/g, '/');
const compactDate = (day: number) => epochDayToIso(day).replace(/-/g, '');
const MKT_ID = { KOSPI: 'STK', KOSDAQ: 'KSQ', KONEX: 'KNX' } as const;
const flucTp = (change: number) => (change > 0 ? '1' : change < 0 ? '2' : '3');
const rate = (r: number) => r.toFixed(2);

/** "2026.01.25 PM 08:27:25", KST, as the site writes CURRENT_DATETIME. */
export function currentDatetime(now = new Date()): string {
  const d = new Date(now.getTime() + 9 * 3600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  const h = d.getUTCHours();
  return `${d.getUTCFullYear()}.${p(d.getUTCMonth() + 1)}.${p(d.getUTCDate())} ${h < 12 ? 'AM' : 'PM'} ${p(h % 12 === 0 ? 12 : h % 12)}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** MDCSTAT01901 row (전종목 기본정보). */
export function listingRow(s: FakeStock): Record<string, string> {
  return {
    ISU_CD: s.isin,
    ISU_SRT_CD: s.listing.symbol,
    ISU_NM: s.fullNameKo,
    ISU_ABBRV: s.nameKo,
    ISU_ENG_NM: s.englishName,
    LIST_DD: slashDate(s.listingDay),
    MKT_TP_NM: s.marketName,
    SECUGRP_NM: '주권',
    SECT_TP_NM: s.section,
    KIND_STKCERT_TP_NM: '보통주',
    PARVAL: s.parValue === null ? '무액면' : withSeparators(s.parValue),
    LIST_SHRS: withSeparators(s.listedShares),
  };
}

/** MDCSTAT01501 row (전종목 시세); `bar` null for a day without trading: prices `-`, FLUC_TP_CD 3. */
export function dayRow(s: FakeStock, bar: FakeBar | null): Record<string, string> {
  const n = (v: number) => (bar ? withSeparators(v) : '-');
  return {
    ISU_SRT_CD: s.listing.symbol,
    ISU_CD: s.isin,
    ISU_ABBRV: s.nameKo,
    MKT_NM: s.marketName,
    SECT_TP_NM: s.section,
    TDD_CLSPRC: n(bar?.close ?? 0),
    FLUC_TP_CD: bar ? flucTp(bar.change) : '3',
    CMPPREVDD_PRC: n(bar?.change ?? 0),
    FLUC_RT: bar ? rate(bar.changeRate) : '-',
    TDD_OPNPRC: n(bar?.open ?? 0),
    TDD_HGPRC: n(bar?.high ?? 0),
    TDD_LWPRC: n(bar?.low ?? 0),
    ACC_TRDVOL: n(bar?.volume ?? 0),
    ACC_TRDVAL: n(bar?.tradedValue ?? 0),
    MKTCAP: n(bar?.marketCap ?? 0),
    LIST_SHRS: withSeparators(s.listedShares),
    MKT_ID: MKT_ID[s.listing.market],
  };
}

/** MDCSTAT01701 row (개별종목 시세 추이), under `output`. */
export function historyRow(bar: FakeBar): Record<string, string> {
  return {
    TRD_DD: slashDate(bar.day),
    TDD_CLSPRC: withSeparators(bar.close),
    FLUC_TP_CD: flucTp(bar.change),
    CMPPREVDD_PRC: withSeparators(bar.change),
    FLUC_RT: rate(bar.changeRate),
    TDD_OPNPRC: withSeparators(bar.open),
    TDD_HGPRC: withSeparators(bar.high),
    TDD_LWPRC: withSeparators(bar.low),
    ACC_TRDVOL: withSeparators(bar.volume),
    ACC_TRDVAL: withSeparators(bar.tradedValue),
    MKTCAP: withSeparators(bar.marketCap),
    LIST_SHRS: withSeparators(bar.stock.listedShares),
  };
}

/** Open API `*_bydd_trd` row: ISU_CD is the 6-digit code there, numbers without separators. */
export function openApiDayRow(bar: FakeBar): Record<string, string> {
  const s = bar.stock;
  return {
    BAS_DD: compactDate(bar.day),
    ISU_CD: s.listing.symbol,
    ISU_NM: s.nameKo,
    MKT_NM: s.marketName,
    SECT_TP_NM: s.section,
    TDD_CLSPRC: String(bar.close),
    CMPPREVDD_PRC: String(bar.change),
    FLUC_RT: rate(bar.changeRate),
    TDD_OPNPRC: String(bar.open),
    TDD_HGPRC: String(bar.high),
    TDD_LWPRC: String(bar.low),
    ACC_TRDVOL: String(bar.volume),
    ACC_TRDVAL: String(bar.tradedValue),
    MKTCAP: String(bar.marketCap),
    LIST_SHRS: String(s.listedShares),
  };
}

/** Open API `*_isu_base_info` row: the MDCSTAT01901 fields, LIST_DD as YYYYMMDD, no separators. */
export function openApiListingRow(s: FakeStock): Record<string, string> {
  return { ...listingRow(s), LIST_DD: compactDate(s.listingDay), PARVAL: s.parValue === null ? '무액면' : String(s.parValue), LIST_SHRS: String(s.listedShares) };
}
