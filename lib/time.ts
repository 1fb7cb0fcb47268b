/** Time helpers. Instants are epoch microseconds (Avro timestamp-micros) held in JS numbers (< 2^53). */

export const MICROS_PER_MS = 1_000;
export const MICROS_PER_SECOND = 1_000_000;
/** Korea Standard Time has been UTC+9 without daylight saving since 1988. */
export const KST_OFFSET_MICROS = 9 * 3600 * MICROS_PER_SECOND;

export function nowMicros(): number {
  return Date.now() * MICROS_PER_MS;
}

/** UTC instant of a KST wall-clock date and time: YYYYMMDD + HHMMSS as KIS sends them. */
export function kstToUtcMicros(yyyymmdd: string, hhmmss: string): number {
  const y = Number(yyyymmdd.slice(0, 4));
  const mo = Number(yyyymmdd.slice(4, 6));
  const d = Number(yyyymmdd.slice(6, 8));
  const h = Number(hhmmss.slice(0, 2));
  const mi = Number(hhmmss.slice(2, 4));
  const s = Number(hhmmss.slice(4, 6));
  return Date.UTC(y, mo - 1, d, h, mi, s) * MICROS_PER_MS - KST_OFFSET_MICROS;
}

/** Start of the epoch-aligned window of `sizeMicros` that contains `t`: windows are [start, start + size). */
export function windowStartOf(t: number, sizeMicros: number, offsetMicros = 0): number {
  return Math.floor((t + offsetMicros) / sizeMicros) * sizeMicros - offsetMicros;
}
