import { KST_OFFSET_MICROS, MICROS_PER_SECOND } from '../../lib/time.js';

/** The KRX day in KST: pre-open auction, regular session with a closing auction, then closed. */
export type SessionPhase = 'closed' | 'pre-open' | 'regular' | 'closing-auction';

export type SessionMode = 'always' | 'krx';

const HOUR = 3600;
const PRE_OPEN = 8.5 * HOUR;
const OPEN = 9 * HOUR;
const CLOSING_AUCTION = 15 * HOUR + 20 * 60;
const CLOSE = 15.5 * HOUR;

export function kstSecondOfDay(utcMicros: number): number {
  const kst = utcMicros + KST_OFFSET_MICROS;
  const day = 86_400 * MICROS_PER_SECOND;
  return (((kst % day) + day) % day) / MICROS_PER_SECOND;
}

/** In `always` mode the market is open around the clock, so a demo works at any hour. */
export function sessionPhase(utcMicros: number, mode: SessionMode): SessionPhase {
  if (mode === 'always') return 'regular';
  const s = kstSecondOfDay(utcMicros);
  if (s >= PRE_OPEN && s < OPEN) return 'pre-open';
  if (s >= OPEN && s < CLOSING_AUCTION) return 'regular';
  if (s >= CLOSING_AUCTION && s < CLOSE) return 'closing-auction';
  return 'closed';
}

/**
 * Trade intensity relative to the day's average: a U shape, high at the open (≈1,300 trades/s for the
 * whole market), low at midday (≈200/s), rising into the close (≈650/s).
 */
export function intradayIntensity(utcMicros: number, mode: SessionMode): number {
  if (mode === 'always') return 1;
  const s = kstSecondOfDay(utcMicros);
  if (s < OPEN || s >= CLOSING_AUCTION) return 0;
  const x = (s - OPEN) / (CLOSING_AUCTION - OPEN); // 0 at the open, 1 at the closing auction
  return 0.45 + 2.6 * Math.pow(1 - x, 6) + 1.1 * Math.pow(x, 4);
}

/** KIS NEW_MKOP_CLS_CODE for a trade in this phase: first digit session, second digit trade kind. */
export function sessionCode(phase: SessionPhase): string {
  switch (phase) {
    case 'pre-open': return '10';
    case 'closing-auction': return '21';
    default: return '20';
  }
}
