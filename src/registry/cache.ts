import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { RegistrySettings } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import type { CertInfo } from '../pki/index.ts';
import { type DeviceRecord, isDeviceId } from './device.ts';
import { OnDemandGate } from './on-demand-gate.ts';
import { isInSubtree } from './scope.ts';
import { validateScopeOne } from './scope-response.ts';
import { RegistrySnapshot, type SnapshotDiff } from './snapshot.ts';
import { createSyncLoop, fetchFullScope, type SyncLoop } from './sync.ts';
import type { RegistryCache, RegistryChange, RegistryStatus, ScopeSource } from './types.ts';
import { parseVerifiedCas } from './verified-cas.ts';

export type { RegistryCache, RegistryChange, RegistryStatus, ScopeSource } from './types.ts';

export interface RegistryCacheOptions {
  /** Folder for `registry.db` (created, mode 0700). */
  readonly dataDir: string;
  /** This gateway's device id: the root of the scope it caches. */
  readonly edgeDeviceId: string;
  readonly settings: RegistrySettings;
  readonly source: ScopeSource;
  readonly logger: Logger;
  /** Clock for rate limits and status (tests control time). Default Date.now. */
  readonly now?: () => number;
  /** Sync at start and on the timer. Default true; false leaves syncing to syncNow(). */
  readonly autoSync?: boolean;
  /** On-demand fetches per second over all ids (token bucket, burst = rate). Default 20. */
  readonly onDemandPerSecond?: number;
  /** Jitter source for retry delays. Default Math.random. */
  readonly random?: () => number;
}

const RECORDS_BATCH = 500;
/** Ids remembered by the on-demand limiter and negative cache, each. */
const ON_DEMAND_TRACKED = 100_000;

/**
 * The gateway's offline-first copy of its scope. Reads are synchronous (LRU, then SQLite); syncs and
 * on-demand fetches write the snapshot and then tell listeners what changed.
 */
export async function createRegistryCache(opts: RegistryCacheOptions): Promise<RegistryCache> {
  const log = opts.logger.child({ component: 'registry' });
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const lru = new LRUCache<string, DeviceRecord>({ max: opts.settings.cacheSize });
  const snapshot = RegistrySnapshot.open({
    path: join(opts.dataDir, 'registry.db'),
    edgeDeviceId: opts.edgeDeviceId,
    logger: log,
    warmLimit: opts.settings.cacheSize,
    warm: (records) => {
      for (const record of records) lru.set(record.deviceId, freezeRecord(record));
    },
  });
  const cache = new Cache(opts, log, lru, snapshot);
  if (opts.autoSync !== false) void cache.syncNow();
  return cache;
}

class Cache implements RegistryCache {
  private readonly opts: RegistryCacheOptions;
  private readonly log: Logger;
  private readonly lru: LRUCache<string, DeviceRecord>;
  private readonly snapshot: RegistrySnapshot;
  private readonly now: () => number;
  private readonly gate: OnDemandGate;
  private readonly loop: SyncLoop;
  private readonly listeners: Array<(change: RegistryChange) => void> = [];
  private readonly inflight = new Map<string, Promise<DeviceRecord | undefined>>();
  private cas: readonly CertInfo[];
  private lastError: string | undefined;
  private lastAttemptFailed = false;
  private syncedThisRun = false;
  private closed = false;

  constructor(
    opts: RegistryCacheOptions,
    log: Logger,
    lru: LRUCache<string, DeviceRecord>,
    snapshot: RegistrySnapshot,
  ) {
    this.opts = opts;
    this.log = log;
    this.lru = lru;
    this.snapshot = snapshot;
    this.now = opts.now ?? Date.now;
    this.cas = Object.freeze(parseVerifiedCas(snapshot.cas));
    this.gate = new OnDemandGate({
      minIntervalMs: opts.settings.onDemandMinIntervalSecs * 1000,
      negativeTtlMs: opts.settings.negativeTtlSecs * 1000,
      ratePerSecond: opts.onDemandPerSecond ?? 20,
      maxTracked: ON_DEMAND_TRACKED,
      now: this.now,
    });
    this.loop = createSyncLoop({
      sync: () => this.runSync(),
      intervalMs: opts.settings.refreshIntervalSecs * 1000,
      logger: log,
      ...(opts.random ? { random: opts.random } : {}),
    });
  }

  get(deviceId: string): DeviceRecord | undefined {
    if (this.closed || !isDeviceId(deviceId)) return undefined;
    const hot = this.lru.get(deviceId);
    if (hot) return hot;
    // Answered before SQLite: a flood of unknown ids otherwise costs a snapshot read per attempt.
    // Consistent with the snapshot: a remembered miss was removed from it, and a sync adding the
    // id forgets the miss.
    if (this.gate.isKnownMissing(deviceId)) return undefined;
    const record = this.snapshot.get(deviceId);
    if (record) this.lru.set(deviceId, freezeRecord(record));
    return record;
  }

  lookup(deviceId: string): Promise<DeviceRecord | undefined> {
    const known = this.get(deviceId);
    return known ? Promise.resolve(known) : this.fetchOne(deviceId);
  }

  refresh(deviceId: string): Promise<DeviceRecord | undefined> {
    return this.fetchOne(deviceId);
  }

  inScope(deviceId: string): boolean {
    return this.get(deviceId) !== undefined;
  }

  mayActFor(actorId: string, targetId: string): boolean {
    const actor = this.get(actorId);
    if (actor?.status !== 'enabled' || !actor.capabilities.iotEdge) return false;
    return isInSubtree((id) => this.get(id), actorId, targetId);
  }

  verifiedCas(): readonly CertInfo[] {
    return this.cas;
  }

  *records(): Iterable<DeviceRecord> {
    let after = '';
    while (!this.closed) {
      const batch = this.snapshot.page(after, RECORDS_BATCH);
      yield* batch;
      const last = batch.at(-1);
      if (!last || batch.length < RECORDS_BATCH) return;
      after = last.deviceId;
    }
  }

  onChange(listener: (change: RegistryChange) => void): void {
    this.listeners.push(listener);
  }

  status(): RegistryStatus {
    const size = this.closed ? 0 : this.snapshot.size;
    const lastSyncAt = this.closed ? undefined : this.snapshot.syncedAt;
    const base = { size, lastSyncAt, lastError: this.lastError };
    if (lastSyncAt === undefined && size === 0) return { state: 'empty', ...base };
    if (this.lastAttemptFailed) return { state: 'offline', ...base };
    const tooOld =
      lastSyncAt === undefined || this.now() - lastSyncAt > 2 * this.opts.settings.refreshIntervalSecs * 1000;
    return { state: this.syncedThisRun && !tooOld ? 'synced' : 'stale', ...base };
  }

  syncNow(): Promise<boolean> {
    return this.closed ? Promise.resolve(false) : this.loop.trigger();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.loop.stop();
    this.opts.source.close?.();
    this.snapshot.close();
    this.lru.clear();
  }

  private async runSync(): Promise<boolean> {
    const started = this.now();
    try {
      const scope = await fetchFullScope(this.opts.source, this.opts.edgeDeviceId);
      const cas = parseVerifiedCas(scope.cas);
      if (this.closed) return false;
      const diff = this.snapshot.replaceAll(scope.records, scope.cas, this.now());
      this.applyDiff(diff, cas);
      this.lastError = undefined;
      this.lastAttemptFailed = false;
      this.syncedThisRun = true;
      this.log.info(
        {
          size: this.snapshot.size,
          pages: scope.pages,
          added: diff.added.length,
          removed: diff.removed.length,
          disabled: diff.disabled.length,
          updated: diff.updated.length,
          casChanged: diff.casChanged,
          ms: this.now() - started,
        },
        'registry synced',
      );
      return true;
    } catch (err) {
      if (this.closed) return false;
      this.lastError = (err as Error).message;
      this.lastAttemptFailed = true;
      this.log.warn({ err: this.lastError, code: (err as { code?: string }).code }, 'registry sync failed');
      return false;
    }
  }

  private applyDiff(diff: SnapshotDiff, cas: CertInfo[]): void {
    const disabledOrRemoved = [...diff.disabled, ...diff.removed];
    for (const id of [...disabledOrRemoved, ...diff.updated]) this.lru.delete(id);
    for (const id of diff.added) this.gate.forgetMissing(id);
    if (diff.casChanged) this.cas = Object.freeze(cas);
    this.emit(disabledOrRemoved, diff.updated, diff.casChanged);
  }

  /** One on-demand fetch, if the gate allows; concurrent calls for one id share it. Never rejects. */
  private fetchOne(deviceId: string): Promise<DeviceRecord | undefined> {
    if (this.closed || !isDeviceId(deviceId)) return Promise.resolve(undefined);
    const pending = this.inflight.get(deviceId);
    if (pending) return pending;
    const verdict = this.gate.admit(deviceId);
    if (verdict !== 'allowed') {
      if (this.log.isLevelEnabled('debug')) this.log.debug({ deviceId, verdict }, 'on-demand fetch skipped');
      return Promise.resolve(this.get(deviceId));
    }
    const fetch = this.fetchAndApply(deviceId).finally(() => this.inflight.delete(deviceId));
    this.inflight.set(deviceId, fetch);
    return fetch;
  }

  private async fetchAndApply(deviceId: string): Promise<DeviceRecord | undefined> {
    try {
      const answer = validateScopeOne(
        await this.opts.source.fetchOne(deviceId),
        this.opts.edgeDeviceId,
        deviceId,
      );
      const cas = parseVerifiedCas(answer.caCertificates);
      if (this.closed) return undefined;
      const casChanged = this.snapshot.setCas(answer.caCertificates);
      if (casChanged) this.cas = Object.freeze(cas);
      let outcome: 'added' | 'updated' | 'disabled' | 'removed' | 'unchanged' = 'unchanged';
      if (answer.device) {
        outcome = this.snapshot.upsert(answer.device);
        this.lru.set(deviceId, freezeRecord(answer.device));
      } else {
        this.gate.rememberMissing(deviceId);
        if (this.snapshot.remove(deviceId)) outcome = 'removed';
        this.lru.delete(deviceId);
      }
      this.log.debug({ deviceId, outcome, casChanged }, 'on-demand fetch');
      const dropped = outcome === 'disabled' || outcome === 'removed' ? [deviceId] : [];
      this.emit(dropped, outcome === 'updated' ? [deviceId] : [], casChanged);
      return this.get(deviceId);
    } catch (err) {
      if (!this.closed) this.log.warn({ deviceId, err: (err as Error).message }, 'on-demand fetch failed');
      return this.closed ? undefined : this.get(deviceId);
    }
  }

  /**
   * Tells listeners. A changed CA list also lists every CA-authenticated device as updated, so a
   * broker re-checks those sessions against the new CAs. A throwing listener is logged, not fatal.
   */
  private emit(disabledOrRemoved: string[], updated: string[], casChanged: boolean): void {
    if (disabledOrRemoved.length === 0 && updated.length === 0 && !casChanged) return;
    if (this.listeners.length === 0) return;
    let all = updated;
    if (casChanged) {
      const ids = new Set(updated);
      for (const r of this.records())
        if (r.authentication.type === 'certificateAuthority') ids.add(r.deviceId);
      for (const id of disabledOrRemoved) ids.delete(id);
      all = [...ids];
    }
    const change: RegistryChange = Object.freeze({ disabledOrRemoved, updated: all, casChanged });
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'registry change listener threw');
      }
    }
  }
}

/** Records are shared by every caller of get(); freezing them keeps one caller from changing another's view. */
function freezeRecord(record: DeviceRecord): DeviceRecord {
  Object.freeze(record.authentication);
  Object.freeze(record.capabilities);
  return Object.freeze(record);
}
