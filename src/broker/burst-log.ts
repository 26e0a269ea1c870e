import type { Logger } from '../logger.ts';

/** Default quiet window: a burst ends after this long without another event of the same kind. */
export const BURST_WINDOW_MS = 10_000;

interface Burst {
  suppressed: number;
  readonly fields: Record<string, unknown>;
  readonly message: string;
  timer: NodeJS.Timeout;
}

/**
 * Logs the first event of a burst, then at most one summary line per window while the burst lasts,
 * so a flood of refused connections cannot flood the log (and the disk) with one line per attempt.
 */
export class BurstLog {
  readonly #logger: Logger;
  readonly #windowMs: number;
  readonly #bursts = new Map<string, Burst>();

  constructor(logger: Logger, windowMs = BURST_WINDOW_MS) {
    this.#logger = logger;
    this.#windowMs = windowMs;
  }

  /** Records one event of kind `key`; logs it (warn) only when it starts a burst. */
  note(key: string, fields: Record<string, unknown>, message: string): void {
    const burst = this.#bursts.get(key);
    if (burst) {
      burst.suppressed++;
      return;
    }
    this.#logger.warn(fields, message);
    const timer = setTimeout(() => this.#endWindow(key), this.#windowMs);
    timer.unref();
    this.#bursts.set(key, { suppressed: 0, fields, message, timer });
  }

  close(): void {
    for (const burst of this.#bursts.values()) clearTimeout(burst.timer);
    this.#bursts.clear();
  }

  #endWindow(key: string): void {
    const burst = this.#bursts.get(key);
    if (!burst) return;
    if (burst.suppressed === 0) {
      this.#bursts.delete(key);
      return;
    }
    this.#logger.warn(
      { ...burst.fields, suppressed: burst.suppressed, windowMs: this.#windowMs },
      `${burst.message} (${burst.suppressed} more in the last ${Math.round(this.#windowMs / 1000)} s)`,
    );
    burst.suppressed = 0;
    burst.timer = setTimeout(() => this.#endWindow(key), this.#windowMs);
    burst.timer.unref();
  }
}
