import type { Logger } from '../logger.ts';

/** Default quiet window: a burst ends after this long without another event of the same kind. */
export const BURST_WINDOW_MS = 10_000;

interface Burst {
  /** Events logged one by one in the current window. */
  logged: number;
  suppressed: number;
  readonly fields: Record<string, unknown>;
  readonly message: string;
  timer: NodeJS.Timeout;
}

/**
 * Logs the first event of a burst (the first `perWindow`), then at most one summary line per window
 * while the burst lasts, so a flood of refused connections cannot flood the log (and the disk) with
 * one line per attempt.
 */
export class BurstLog {
  readonly #logger: Logger;
  readonly #windowMs: number;
  readonly #perWindow: number;
  readonly #bursts = new Map<string, Burst>();

  constructor(logger: Logger, windowMs = BURST_WINDOW_MS, perWindow = 1) {
    this.#logger = logger;
    this.#windowMs = windowMs;
    this.#perWindow = Math.max(1, perWindow);
  }

  /** Records one event of kind `key`; logs it (warn) only while the window's allowance lasts. */
  note(key: string, fields: Record<string, unknown>, message: string): void {
    const burst = this.#bursts.get(key);
    if (burst) {
      if (burst.logged < this.#perWindow) {
        burst.logged++;
        this.#logger.warn(fields, message);
      } else burst.suppressed++;
      return;
    }
    this.#logger.warn(fields, message);
    const timer = setTimeout(() => this.#endWindow(key), this.#windowMs);
    timer.unref();
    this.#bursts.set(key, { logged: 1, suppressed: 0, fields, message, timer });
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
    burst.logged = this.#perWindow;
    burst.timer = setTimeout(() => this.#endWindow(key), this.#windowMs);
    burst.timer.unref();
  }
}
