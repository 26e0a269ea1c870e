import type { GatewayConfig } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import type { CertInfo } from '../pki/index.ts';
import { retryDelay } from './lifetime.ts';
import { loadTlsMaterial, nextRenewalAt, type TlsMaterial } from './material.ts';

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

export interface CertificateRenewal {
  current(): TlsMaterial;
  /** Reloads the Edge CA, reuses or reissues the server certificate, applies it when it changed. */
  reload(reissue: boolean): Promise<CertInfo>;
  close(): void;
}

/**
 * Keeps the TLS material current: reloads serialized (two never write the certificate files at once),
 * and a timer reloads at the next renewal point, retrying after `[edge_ca.auto_renew] retry`.
 */
export function startCertificateRenewal(o: {
  readonly config: GatewayConfig;
  readonly dir: string;
  readonly initial: TlsMaterial;
  readonly now: () => number;
  readonly log: Logger;
  readonly apply: (next: TlsMaterial) => void;
  /** Told after every reload (timer or asked for): the material in use, and the error if it failed. */
  readonly report?: (inUse: TlsMaterial, err?: unknown) => void;
}): CertificateRenewal {
  let material = o.initial;
  let chain: Promise<unknown> = Promise.resolve();
  const reload = (reissue: boolean): Promise<CertInfo> => {
    const run = chain
      .catch(() => undefined)
      .then(async () => {
        const next = await loadTlsMaterial({
          config: o.config,
          dir: o.dir,
          now: o.now(),
          log: o.log,
          reissueServer: reissue,
        });
        if (next.server.cert.sha256 !== material.server.cert.sha256) o.apply(next);
        material = next;
        timer.schedule();
        return next.server.cert;
      });
    chain = run;
    run.then(
      () => o.report?.(material),
      (err: unknown) => o.report?.(material, err),
    );
    return run;
  };
  const timer = new RenewalTimer({
    nextAt: () => nextRenewalAt(material, o.config),
    renew: async () => {
      await reload(false);
    },
    retryMs: () => retryDelay(material.server.cert, o.config.edgeCa.autoRenew.retry),
    now: o.now,
    log: o.log,
  });
  timer.schedule();
  return { current: () => material, reload, close: () => timer.close() };
}
