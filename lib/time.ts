/** Time helpers. Instants are epoch microseconds (Avro timestamp-micros) held in JS numbers (< 2^53). */

export const MICROS_PER_MS = 1_000;
export const MICROS_PER_SECOND = 1_000_000;
/** Korea Standard Time has been UTC+9 without daylight saving since 1988. */
export const KST_OFFSET_MICROS = 9 * 3600 * MICROS_PER_SECOND;

export function nowMicros(): number {
  return Date.now() * MICROS_PER_MS;
}

/** The last KST date converted: trades of one day share it, so the calendar math runs once a day. */
let lastKstDate = '';
let lastKstMidnightMicros = NaN;

/** UTC instant of a KST wall-clock date and time: YYYYMMDD + HHMMSS as KIS sends them (NaN if not digits). */
export function kstToUtcMicros(yyyymmdd: string, hhmmss: string): number {
  if (yyyymmdd !== lastKstDate) {
    const y = Number(yyyymmdd.slice(0, 4));
    const mo = Number(yyyymmdd.slice(4, 6));
    const d = Number(yyyymmdd.slice(6, 8));
    lastKstMidnightMicros = yyyymmdd.length === 8 ? Date.UTC(y, mo - 1, d) * MICROS_PER_MS - KST_OFFSET_MICROS : NaN;
    lastKstDate = yyyymmdd;
  }
  if (hhmmss.length !== 6) return NaN;
  const h = twoDigits(hhmmss, 0);
  const mi = twoDigits(hhmmss, 2);
  const s = twoDigits(hhmmss, 4);
  return lastKstMidnightMicros + (h * 3600 + mi * 60 + s) * MICROS_PER_SECOND;
}

/** The number written by the two digits at `at` (NaN if either is not a digit). */
function twoDigits(text: string, at: number): number {
  const tens = text.charCodeAt(at) - 48;
  const ones = text.charCodeAt(at + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : NaN;
}

/** Start of the epoch-aligned window of `sizeMicros` that contains `t`: windows are [start, start + size). */
export function windowStartOf(t: number, sizeMicros: number, offsetMicros = 0): number {
  return Math.floor((t + offsetMicros) / sizeMicros) * sizeMicros - offsetMicros;
}

const MS_PER_DAY = 86_400_000;

/** Avro `date` (days since 1970-01-01) → 'YYYY-MM-DD'. */
export function epochDayToIso(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}

/** 'YYYY-MM-DD', 'YYYYMMDD' or 'YYYY/MM/DD' → Avro `date`; NaN if it is not a real calendar date. */
export function isoToEpochDay(date: string): number {
  const m = /^(\d{4})[-/]?(\d{2})[-/]?(\d{2})$/.exec(date);
  if (!m) return NaN;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return epochDayToIso(ms / MS_PER_DAY).replace(/-/g, '') === `${m[1]}${m[2]}${m[3]}` ? ms / MS_PER_DAY : NaN;
}

/** The KST calendar date of an instant (epoch ms), as an Avro `date`. */
export function kstEpochDay(epochMs: number): number {
  return Math.floor((epochMs + KST_OFFSET_MICROS / MICROS_PER_MS) / MS_PER_DAY);
}
