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
