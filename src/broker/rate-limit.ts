import { LRUCache } from 'lru-cache';

interface Bucket {
  tokens: number;
  at: number;
}

export interface SourceRateLimiterOptions {
  /** Tokens added per second per source address; 0 disables the limit. */
  readonly ratePerSecond: number;
  /** Bucket size. Default: 2 × rate (the documented burst). */
  readonly burst?: number;
  /** Source addresses remembered; the least recently seen are forgotten first. Default 10000. */
  readonly maxSources?: number;
  readonly now?: () => number;
}

/**
 * Per-source-address token bucket for new connections. Bounded in memory: a source forgotten by the
 * LRU starts again with a full bucket, which errs towards letting a rare client in, never towards growth.
 */
export class SourceRateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #buckets: LRUCache<string, Bucket>;

  constructor(opts: SourceRateLimiterOptions) {
    this.#rate = opts.ratePerSecond;
    this.#burst = opts.burst ?? Math.max(1, 2 * opts.ratePerSecond);
    this.#now = opts.now ?? Date.now;
    this.#buckets = new LRUCache({ max: opts.maxSources ?? 10_000 });
  }

  /** Takes one token for `source`; false means the connection must be refused. */
  take(source: string): boolean {
    if (this.#rate <= 0) return true;
    const now = this.#now();
    const bucket = this.#buckets.get(source);
    if (!bucket) {
      this.#buckets.set(source, { tokens: this.#burst - 1, at: now });
      return true;
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
