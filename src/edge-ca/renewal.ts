import type { Logger } from '../logger.ts';

/** setTimeout's longest delay; a later renewal point is reached in several hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RenewalTimerOptions {
  /** The instant (ms) the material next needs renewing. */
  readonly nextAt: () => number;
  /** Renews; a rejection schedules a retry after `retryMs()`. */
  readonly renew: () => Promise<void>;
  readonly retryMs: () => number;
  readonly now?: () => number;
  readonly log: Logger;
  /** Shortest wait, so a certificate that is always "due" cannot spin. Default 60 s. */
  readonly minDelayMs?: number;
}

/** One unref'd timer that renews certificates at their renewal point and retries on failure. */
export class RenewalTimer {
  readonly #opts: RenewalTimerOptions;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: RenewalTimerOptions) {
    this.#opts = opts;
  }

  /** (Re)arms the timer for the current renewal point. */
  schedule(): void {
    const now = (this.#opts.now ?? Date.now)();
    this.#arm(this.#opts.nextAt() - now, false);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delayMs: number, retrying: boolean): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    const min = this.#opts.minDelayMs ?? 60_000;
    const delay = Math.min(MAX_TIMER_MS, Math.max(min, delayMs));
    const hop = delay === MAX_TIMER_MS && delayMs > MAX_TIMER_MS;
    this.#timer = setTimeout(() => (hop ? this.schedule() : this.#fire(retrying)), delay);
    this.#timer.unref();
  }

  #fire(retrying: boolean): void {
    this.#opts.renew().then(
      () => this.schedule(),
      (err: unknown) => {
        const retryMs = this.#opts.retryMs();
        this.#opts.log.error(
          { err: err instanceof Error ? err.message : String(err), retryInMs: Math.round(retryMs), retrying },
          'certificate renewal failed; will retry',
        );
        this.#arm(retryMs, true);
      },
    );
  }
}
