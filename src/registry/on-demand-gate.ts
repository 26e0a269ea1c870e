import { LRUCache } from 'lru-cache';

/** Why an on-demand fetch was or was not allowed. */
export type OnDemandVerdict = 'allowed' | 'known-missing' | 'too-soon' | 'rate-limited';

export interface OnDemandGateOptions {
  /** At most one fetch per device id per this many ms. */
  readonly minIntervalMs: number;
  /** How long a "no such device" answer is remembered, ms. */
  readonly negativeTtlMs: number;
  /** Fetches per second across all ids (token bucket refill rate; the burst equals it). */
  readonly ratePerSecond: number;
  /** Ids remembered per table; least recently used are forgotten first. */
  readonly maxTracked: number;
  readonly now: () => number;
}

/**
 * The policy that keeps a flood of unknown device ids from hammering upstream: a negative cache, a
 * per-id minimum interval and a global token bucket. Both tables are bounded LRUs, so hostile id churn
 * costs bounded memory; when an id falls out, the token bucket still bounds the total rate.
 */
export class OnDemandGate {
  private readonly opts: OnDemandGateOptions;
  private readonly lastFetch: LRUCache<string, number>;
  private readonly missingUntil: LRUCache<string, number>;
  private tokens: number;
  private refilledAt: number;

  constructor(opts: OnDemandGateOptions) {
    this.opts = opts;
    this.lastFetch = new LRUCache({ max: opts.maxTracked });
    this.missingUntil = new LRUCache({ max: opts.maxTracked });
    this.tokens = opts.ratePerSecond;
    this.refilledAt = opts.now();
  }

  /** Decides, and on 'allowed' records the fetch (it counts against the id's interval and the bucket). */
  admit(deviceId: string): OnDemandVerdict {
    const now = this.opts.now();
    const until = this.missingUntil.get(deviceId);
    if (until !== undefined) {
      if (now < until) return 'known-missing';
      this.missingUntil.delete(deviceId);
    }
    const last = this.lastFetch.get(deviceId);
    if (last !== undefined && now - last < this.opts.minIntervalMs) return 'too-soon';
    if (!this.takeToken(now)) return 'rate-limited';
    this.lastFetch.set(deviceId, now);
    return 'allowed';
  }

  /** Upstream said "no such device" within the negative TTL (the snapshot has no record for it either). */
  isKnownMissing(deviceId: string): boolean {
    const until = this.missingUntil.peek(deviceId);
    return until !== undefined && this.opts.now() < until;
  }

  rememberMissing(deviceId: string): void {
    if (this.opts.negativeTtlMs > 0)
      this.missingUntil.set(deviceId, this.opts.now() + this.opts.negativeTtlMs);
  }

  /** The id now exists (a sync brought it): its "missing" answer is obsolete. */
  forgetMissing(deviceId: string): void {
    this.missingUntil.delete(deviceId);
  }

  private takeToken(now: number): boolean {
    const rate = this.opts.ratePerSecond;
    const elapsed = Math.max(0, now - this.refilledAt);
    this.tokens = Math.min(rate, this.tokens + (elapsed * rate) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
