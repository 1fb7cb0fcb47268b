export interface BackoffPolicy {
  /** Delay scale of the first retry. */
  baseMs: number;
  /** Longest delay. */
  maxMs: number;
}

/**
 * Exponential backoff with "equal jitter": attempt n waits between half and all of min(max, base·2ⁿ).
 * The random half spreads reconnects of many sessions (and many producers) after a server restart;
 * the fixed half keeps a flapping server from being hammered.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/**
 * The wait before reconnecting while the server may still hold the session's slot (after an abnormal
 * close, or an answer that says so): never below `floorMs` (the real server kept slots ≈ 20 s; fast
 * retries got keys locked out), doubling per failed attempt up to `maxMs`, plus up to half again of
 * jitter so many keys and many producers do not come back in step.
 */
export function heldSlotDelay(attempt: number, floorMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(Math.max(maxMs, floorMs), floorMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(step * (1 + 0.5 * random()));
}
