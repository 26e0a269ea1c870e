import { GatehouseError } from '../errors.ts';
import type { ScopeCa } from '../iothub/scope-api.ts';
import type { Logger } from '../logger.ts';
import type { DeviceRecord } from './device.ts';
import { validateScopePage } from './scope-response.ts';
import type { ScopeSource } from './types.ts';

/** Pages one full sync may follow (1000 records each at most): bounds a hostile never-ending scope. */
export const MAX_SYNC_PAGES = 10_000;
export const RETRY_MIN_MS = 1000;
export const RETRY_MAX_MS = 60_000;

export interface FullScope {
  readonly records: DeviceRecord[];
  readonly cas: ScopeCa[];
  readonly pages: number;
}

/**
 * Fetches the whole scope by following continuation links, validating every page. Nothing is returned
 * unless every page arrived, so the caller can replace its snapshot atomically. A record repeated on a
 * later page (the scope changed while paging) keeps the later copy; the CA list is the last page's.
 */
export async function fetchFullScope(
  source: ScopeSource,
  edgeDeviceId: string,
  maxPages = MAX_SYNC_PAGES,
): Promise<FullScope> {
  const byId = new Map<string, DeviceRecord>();
  const links = new Set<string>();
  let cas: ScopeCa[] = [];
  let continuation: string | null = null;
  for (let pages = 1; pages <= maxPages; pages++) {
    const page = validateScopePage(await source.fetchPage(continuation), edgeDeviceId);
    for (const device of page.devices) byId.set(device.deviceId, device);
    cas = page.caCertificates;
    if (page.continuationLink === null) return { records: [...byId.values()], cas, pages };
    if (links.has(page.continuationLink)) {
      throw new GatehouseError('GH_ERR_PROTOCOL', 'scope sync: a continuation link repeats (paging loop)');
    }
    links.add(page.continuationLink);
    continuation = page.continuationLink;
  }
  throw new GatehouseError('GH_ERR_PROTOCOL', `scope sync: more than ${maxPages} pages`);
}

/**
 * Delay before retry number `failures` (1, 2, …): exponential from 1 s, capped at 60 s, with "equal
 * jitter" (half fixed, half random) so many gateways that lost the hub together do not return in step.
 */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(Math.max(failures - 1, 0), 16));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

export interface SyncLoop {
  /** Runs a sync now, or joins the one running; then the next one is scheduled from its outcome. */
  trigger(): Promise<boolean>;
  stop(): void;
}

/**
 * Runs `sync` at start (when asked), every `intervalMs` after a success, and with backoff after a
 * failure. One sync at a time; timers are unref'd so they never keep the process alive.
 */
export function createSyncLoop(opts: {
  sync: () => Promise<boolean>;
  intervalMs: number;
  logger: Logger;
  random?: () => number;
}): SyncLoop {
  let running: Promise<boolean> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let stopped = false;

  const schedule = (delayMs: number): void => {
    if (timer) clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => void trigger(), delayMs);
    timer.unref();
  };

  const trigger = (): Promise<boolean> => {
    if (running) return running;
    running = opts
      .sync()
      .catch(() => false)
      .then((ok) => {
        failures = ok ? 0 : failures + 1;
        const delay = ok ? opts.intervalMs : retryDelayMs(failures, opts.random);
        if (!ok && !stopped)
          opts.logger.warn({ failures, retryInMs: delay }, 'registry sync failed; will retry');
        schedule(delay);
        return ok;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  return {
    trigger,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
