import { AppError } from '../../lib/errors.js';
import { isoToEpochDay } from '../../lib/time.js';
import type { DailyBar, KrxSource, Stock, StockMarket } from '../../schemas/generated/types.js';

/**
 * Parsing of KRX bodies into records, without I/O (reference krx-data.md). data.krx.co.kr writes
 * numbers with thousands separators and `-` for no value, dates YYYY/MM/DD; the Open API writes
 * plain numbers and YYYYMMDD. A body that is not what was recorded — not JSON, no row container,
 * a row without an expected field — is SOURCE_BAD_RESPONSE: it goes whole to the dead-letter topic.
 */

export type Row = Record<string, string>;

/** The row keys each report must carry; a missing one means the format changed. */
export const LISTING_FIELDS = ['ISU_CD', 'ISU_SRT_CD', 'ISU_NM', 'ISU_ABBRV', 'ISU_ENG_NM', 'LIST_DD', 'MKT_TP_NM', 'SECUGRP_NM', 'SECT_TP_NM', 'KIND_STKCERT_TP_NM', 'PARVAL', 'LIST_SHRS'] as const;
export const DAY_FIELDS = ['ISU_SRT_CD', 'ISU_ABBRV', 'MKT_NM', 'TDD_CLSPRC', 'CMPPREVDD_PRC', 'FLUC_RT', 'TDD_OPNPRC', 'TDD_HGPRC', 'TDD_LWPRC', 'ACC_TRDVOL', 'ACC_TRDVAL', 'MKTCAP', 'LIST_SHRS'] as const;
export const OPENAPI_DAY_FIELDS = ['BAS_DD', 'ISU_CD', 'ISU_NM', 'MKT_NM', 'TDD_CLSPRC', 'CMPPREVDD_PRC', 'FLUC_RT', 'TDD_OPNPRC', 'TDD_HGPRC', 'TDD_LWPRC', 'ACC_TRDVOL', 'ACC_TRDVAL', 'MKTCAP', 'LIST_SHRS'] as const;
export const HISTORY_FIELDS = ['TRD_DD', 'TDD_CLSPRC', 'CMPPREVDD_PRC', 'FLUC_RT', 'TDD_OPNPRC', 'TDD_HGPRC', 'TDD_LWPRC', 'ACC_TRDVOL', 'ACC_TRDVAL', 'MKTCAP', 'LIST_SHRS'] as const;

function bad(message: string): never {
  throw new AppError('SOURCE_BAD_RESPONSE', message);
}

/**
 * "4,210" → 4210, "-1,200" → -1200, "-0.66" → -0.66; `-` (no value) and "" → null.
 * Hand-rolled: it runs 14 times per row, 3.5 million rows in a backfill.
 */
export function parseKrxNumber(text: string): number | null {
  if (text === '-' || text === '') return null;
  let n = 0;
  let scale = 0;
  let neg = false;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      n = n * 10 + (c - 48);
      digits++;
      if (scale > 0) scale *= 10;
    } else if (c === 44 /* , */) {
      continue;
    } else if (c === 46 /* . */ && scale === 0) {
      scale = 1;
    } else if ((c === 45 /* - */ || c === 43) && i === 0) {
      neg = c === 45;
    } else {
      return NaN;
    }
  }
  if (digits === 0) return NaN;
  const v = scale > 1 ? n / scale : n;
  return neg ? -v : v;
}

/** A number a record needs: `-` or garbage in a field that must have one is a bad body. */
function num(row: Row, key: string): number {
  const v = parseKrxNumber(row[key] ?? '');
  if (v === null || Number.isNaN(v)) bad(`field ${key} is ${JSON.stringify(row[key])}, not a number (row ${row['ISU_SRT_CD'] ?? row['ISU_CD'] ?? row['TRD_DD'] ?? '?'})`);
  return v;
}

/** 'YYYY/MM/DD' or 'YYYYMMDD' → days since 1970. */
export function parseKrxDate(text: string): number {
  const d = isoToEpochDay(text);
  if (Number.isNaN(d)) bad(`date ${JSON.stringify(text)} is neither YYYY/MM/DD nor YYYYMMDD`);
  return d;
}

/** The rows of a JSON body under `container` ('OutBlock_1' or 'output'), each with every field in `fields`. */
export function parseRows(body: string, container: 'OutBlock_1' | 'output', fields: readonly string[]): Row[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    const start = body.trimStart().slice(0, 15).toLowerCase();
    bad(start.startsWith('<') ? 'an HTML page instead of JSON' : `not JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null) bad('JSON body is not an object');
  const rows = (json as Record<string, unknown>)[container];
  if (!Array.isArray(rows)) bad(`no ${container} array in the body (keys: ${Object.keys(json as object).slice(0, 8).join(', ')})`);
  for (const row of rows as unknown[]) {
    if (typeof row !== 'object' || row === null) bad(`${container} holds a non-object row`);
    for (const f of fields) {
      if (typeof (row as Row)[f] !== 'string') bad(`${container} row without field ${f}: the format changed (row keys: ${Object.keys(row).join(', ')})`);
    }
  }
  return rows as Row[];
}

/** MKT_NM / MKT_TP_NM → market; KOSDAQ GLOBAL is a KOSDAQ segment. */
export function parseMarket(text: string): StockMarket {
  if (text === 'KOSPI' || text === '유가증권') return 'KOSPI';
  if (text === 'KOSDAQ' || text === 'KOSDAQ GLOBAL' || text === '코스닥') return 'KOSDAQ';
  if (text === 'KONEX' || text === '코넥스') return 'KONEX';
  return bad(`unknown market ${JSON.stringify(text)}`);
}

/** One MDCSTAT01901 / isu_base_info row → a listed Stock. */
export function toStock(row: Row, source: KrxSource, updatedAt: number): Stock {
  const code = row['ISU_SRT_CD'] ?? '';
  if (!/^[0-9A-Z]{6}$/.test(code)) bad(`ISU_SRT_CD ${JSON.stringify(code)} is not a 6-character code`);
  const par = parseKrxNumber(row['PARVAL'] ?? '');
  const sector = (row['SECT_TP_NM'] ?? '').trim();
  return {
    code,
    isin: row['ISU_CD'] as string,
    name: row['ISU_ABBRV'] as string,
    fullName: row['ISU_NM'] as string,
    englishName: row['ISU_ENG_NM'] as string,
    market: parseMarket(row['MKT_TP_NM'] as string),
    sector: sector === '' || sector === '-' ? null : sector,
    industry: null,
    securityGroup: row['SECUGRP_NM'] as string,
    stockKind: row['KIND_STKCERT_TP_NM'] as string,
    // 무액면 (no par value) is not a number, and not an error.
    parValue: par === null || Number.isNaN(par) ? null : par,
    listedShares: num(row, 'LIST_SHRS'),
    listingDate: parseKrxDate(row['LIST_DD'] as string),
    delisted: false,
    delistedDate: null,
    source,
    updatedAt,
  };
}

export interface ParsedDay {
  date: number;
  /** No trading that day: every row's prices are `-` (data.krx.co.kr) or there are no rows (Open API). */
  holiday: boolean;
  bars: DailyBar[];
}

function bar(row: Row, code: string, name: string, date: number, source: KrxSource, ingestTime: number, market: StockMarket): DailyBar {
  return {
    code,
    date,
    market,
    name,
    open: num(row, 'TDD_OPNPRC'),
    high: num(row, 'TDD_HGPRC'),
    low: num(row, 'TDD_LWPRC'),
    close: num(row, 'TDD_CLSPRC'),
    change: num(row, 'CMPPREVDD_PRC'),
    changeRate: num(row, 'FLUC_RT'),
    volume: num(row, 'ACC_TRDVOL'),
    tradedValue: num(row, 'ACC_TRDVAL'),
    marketCap: num(row, 'MKTCAP'),
    listedShares: num(row, 'LIST_SHRS'),
    source,
    ingestTime,
  };
}

/**
 * MDCSTAT01501 (all stocks on `date`). A holiday is recognised from the data: every row's close
 * is `-`. Some rows `-` and others not is not a format we know: a bad body.
 */
export function parseDataDay(body: string, date: number, ingestTime: number): ParsedDay {
  const rows = parseRows(body, 'OutBlock_1', DAY_FIELDS);
  const dashes = rows.filter((r) => r['TDD_CLSPRC'] === '-').length;
  if (rows.length > 0 && dashes === rows.length) return { date, holiday: true, bars: [] };
  if (dashes > 0) bad(`${dashes} of ${rows.length} rows have no close on a trading day`);
  if (rows.length === 0) return { date, holiday: true, bars: [] };
  return { date, holiday: false, bars: rows.map((r) => bar(r, r['ISU_SRT_CD'] as string, r['ISU_ABBRV'] as string, date, 'KRX_DATA', ingestTime, parseMarket(r['MKT_NM'] as string))) };
}

/** Open API `*_bydd_trd`: ISU_CD is the 6-digit code there; no rows on a day without trading. */
export function parseOpenApiDay(body: string, date: number, ingestTime: number): ParsedDay {
  const rows = parseRows(body, 'OutBlock_1', OPENAPI_DAY_FIELDS);
  const bars = rows.map((r) => {
    if (parseKrxDate(r['BAS_DD'] as string) !== date) bad(`BAS_DD ${r['BAS_DD']} is not the requested day`);
    return bar(r, r['ISU_CD'] as string, r['ISU_NM'] as string, date, 'KRX_OPENAPI', ingestTime, parseMarket(r['MKT_NM'] as string));
  });
  return { date, holiday: bars.length === 0, bars };
}

/** MDCSTAT01701 (one stock over a range, rows under `output`, newest first) → bars oldest first. */
export function parseStockHistory(body: string, code: string, name: string, market: StockMarket, ingestTime: number): DailyBar[] {
  return parseRows(body, 'output', HISTORY_FIELDS)
    .map((r) => bar(r, code, name, parseKrxDate(r['TRD_DD'] as string), 'KRX_DATA', ingestTime, market))
    .reverse();
}
