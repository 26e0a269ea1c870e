/**
 * Reconnect delays: exponential from `minMs` to `maxMs`, with "equal jitter" (half fixed, half random)
 * so a fleet of gateways that lost the hub together does not come back in one synchronized wave, while
 * no single gateway waits less than half its nominal delay.
 */
export interface BackoffOptions {
  /** First delay after a failure. Default 1000 ms. */
  readonly minMs: number;
  /** Ceiling of the nominal delay. Default 60000 ms. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ minMs: 1_000, maxMs: 60_000 });

/** The delay before attempt number `attempt` (0 = first retry); `random` in [0, 1). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: number = Math.random(),
): number {
  const min = Math.max(1, options.minMs);
  const max = Math.max(min, options.maxMs);
  // Cap the exponent so 2 ** attempt never overflows into Infinity for a link that is down for days.
  const nominal = Math.min(max, min * 2 ** Math.min(Math.max(0, attempt), 30));
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(nominal / 2 + (nominal / 2) * r);
}
