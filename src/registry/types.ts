import type { ScopeOne, ScopePage } from '../iothub/scope-api.ts';
import type { CertInfo } from '../pki/index.ts';
import type { DeviceRecord } from './device.ts';

/** What one sync or on-demand refresh changed, so the broker can drop or re-check live connections. */
export interface RegistryChange {
  /** Ids that went from enabled to disabled, or left the scope. */
  readonly disabledOrRemoved: string[];
  /** Ids still present whose record changed otherwise (thumbprint, parent, …). */
  readonly updated: string[];
  /** True when the set of verified CA certificates changed (CA-authenticated sessions need a re-check). */
  readonly casChanged: boolean;
}

export type RegistryState = 'synced' | 'stale' | 'offline' | 'empty';

export interface RegistryStatus {
  /**
   * 'synced': the last full sync succeeded, within two refresh intervals. 'stale': serving data from an
   * earlier run or an old sync while none has failed yet. 'offline': the last sync attempt failed and
   * cached data is served. 'empty': nothing cached and no sync has succeeded yet.
   */
  readonly state: RegistryState;
  readonly size: number;
  readonly lastSyncAt: number | undefined;
  readonly lastError: string | undefined;
}

export interface RegistryCache {
  /** Sync lookup: LRU first, then the persisted snapshot; undefined when not known. */
  get(deviceId: string): DeviceRecord | undefined;
  /** get(), and on a miss one on-demand fetch from upstream (rate-limited per id, negative-cached). */
  lookup(deviceId: string): Promise<DeviceRecord | undefined>;
  /**
   * Asks upstream for a known device again (e.g. its certificate no longer matches the cached
   * thumbprint), under the same per-id and global rate limits as lookup(). Resolves the record now held.
   */
  refresh(deviceId: string): Promise<DeviceRecord | undefined>;
  /** True when deviceId is in this gateway's subtree (the scope served by upstream is exactly that). */
  inScope(deviceId: string): boolean;
  /**
   * True when target is in the subtree of edge device `actorId` (for child gateways acting for their
   * devices). The actor must be an enabled edge device of this scope.
   */
  mayActFor(actorId: string, targetId: string): boolean;
  /** Verified CA certificates from the last sync, parsed (CertInfo[]). Same array object until they change. */
  verifiedCas(): readonly CertInfo[];
  /** All records in scope (for serving child gateways' scope API), iterated from the snapshot. */
  records(): Iterable<DeviceRecord>;
  /** Fires after each sync / on-demand refresh with what changed, so the broker can drop connections. */
  onChange(listener: (change: RegistryChange) => void): void;
  status(): RegistryStatus;
  /** Runs a full sync now (tests, and the timer); joins one already running. Resolves whether it succeeded. */
  syncNow(): Promise<boolean>;
  close(): Promise<void>;
}

/** Where records come from: the scope API client over mTLS (or a fake in unit tests). */
export interface ScopeSource {
  /** First page with `null`, then each page's continuationLink. */
  fetchPage(continuation: string | null): Promise<ScopePage>;
  fetchOne(deviceId: string): Promise<ScopeOne>;
  /** Releases connections; optional so simple fakes need not implement it. */
  close?(): void;
}
