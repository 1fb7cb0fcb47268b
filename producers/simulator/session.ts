import { KST_OFFSET_MICROS, MICROS_PER_SECOND } from '../../lib/time.js';
import type { MarketSession } from '../../schemas/generated/types.js';

/**
 * The KRX day in KST since 2026-09-14 (KIS notice of 2026-09-09): pre-open auction 08:30-09:00,
 * regular session 09:00-15:30 ending in the closing auction 15:20-15:30, after-hours trading at the
 * closing price 15:40-16:00, and the after-market 16:00-20:00 (the after-hours single-price session
 * is gone).
 */
export type SessionPhase = 'closed' | 'pre-open' | 'regular' | 'closing-auction' | 'closing-price' | 'after-market';

/** Nextrade (NXT), the alternative venue: pre-market 08:00-08:50, main market 09:00:30-15:20, after-market 15:40-20:00. */
export type NxtPhase = 'closed' | 'pre-market' | 'main' | 'after-market';

export type SessionMode = 'always' | 'krx';

const HOUR = 3600;
const MINUTE = 60;
const NXT_PRE_MARKET = 8 * HOUR;
const NXT_PRE_MARKET_END = 8 * HOUR + 50 * MINUTE;
const PRE_OPEN = 8.5 * HOUR;
const OPEN = 9 * HOUR;
const NXT_MAIN = 9 * HOUR + 30;
const CLOSING_AUCTION = 15 * HOUR + 20 * MINUTE;
const CLOSE = 15.5 * HOUR;
const CLOSING_PRICE = 15 * HOUR + 40 * MINUTE;
const AFTER_MARKET = 16 * HOUR;
const AFTER_MARKET_END = 20 * HOUR;

/** Average trade intensity outside the regular session, relative to the day's average. */
const CLOSING_PRICE_INTENSITY = 0.03;
const AFTER_MARKET_INTENSITY = 0.08;
/** NXT's share of trading per phase, relative to the KRX day's average. */
const NXT_INTENSITY: Record<NxtPhase, number> = { closed: 0, 'pre-market': 0.1, main: 0.12, 'after-market': 0.06 };

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
  if (s >= CLOSING_PRICE && s < AFTER_MARKET) return 'closing-price';
  if (s >= AFTER_MARKET && s < AFTER_MARKET_END) return 'after-market';
  return 'closed';
}

/** `always` mode is KRX's regular session only (NXT closed), as before NXT existed. */
export function nxtPhase(utcMicros: number, mode: SessionMode): NxtPhase {
  if (mode === 'always') return 'closed';
  const s = kstSecondOfDay(utcMicros);
  if (s >= NXT_PRE_MARKET && s < NXT_PRE_MARKET_END) return 'pre-market';
  if (s >= NXT_MAIN && s < CLOSING_AUCTION) return 'main';
  if (s >= CLOSING_PRICE && s < AFTER_MARKET_END) return 'after-market';
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

/** Continuous KRX trading intensity in this phase (auctions print no trades until they cross). */
export function krxIntensity(utcMicros: number, phase: SessionPhase, mode: SessionMode): number {
  switch (phase) {
    case 'regular': return intradayIntensity(utcMicros, mode);
    case 'closing-price': return CLOSING_PRICE_INTENSITY;
    case 'after-market': return AFTER_MARKET_INTENSITY;
    default: return 0;
  }
}

export function nxtIntensity(phase: NxtPhase): number {
  return NXT_INTENSITY[phase];
}

/** KIS NEW_MKOP_CLS_CODE for a trade in this phase: first digit session, second digit trade kind. */
export function sessionCode(phase: SessionPhase | NxtPhase): string {
  switch (phase) {
    case 'pre-open':
    case 'pre-market':
      return '10';
    case 'closing-auction': return '21';
    case 'closing-price': return '31';
    case 'after-market': return '30';
    default: return '20';
  }
}

/** The session a user filters on (the Tick and OrderBook `marketSession`). */
export function marketSessionOf(phase: SessionPhase | NxtPhase): MarketSession {
  switch (phase) {
    case 'pre-open':
    case 'pre-market':
      return 'PRE_MARKET';
    case 'regular':
    case 'main':
    case 'closing-auction':
      return 'REGULAR';
    case 'closing-price': return 'CLOSING_PRICE';
    case 'after-market': return 'AFTER_MARKET';
    default: return 'UNKNOWN';
  }
}
