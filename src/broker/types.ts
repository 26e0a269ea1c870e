import type { CertInfo } from '../pki/index.ts';
import type { DeviceRecord } from '../registry/device.ts';

/** Registry cache states, as the registry module reports them. */
export type RegistryState = 'synced' | 'stale' | 'offline' | 'empty';

export interface RegistryStatus {
  readonly state: RegistryState;
  readonly size: number;
  readonly lastSyncAt?: number | undefined;
  readonly lastError?: string | undefined;
}

export interface RegistryChange {
  readonly disabledOrRemoved: readonly string[];
  readonly updated: readonly string[];
  /** The verified CA set changed: CA-authenticated connections are re-checked. */
  readonly casChanged?: boolean;
}

/**
 * What the broker needs from the registry cache (src/registry): the subset of its RegistryCache,
 * so the broker can be tested with an in-memory fake and never reaches into the cache's internals.
 */
export interface BrokerRegistry {
  get(deviceId: string): DeviceRecord | undefined;
  lookup(deviceId: string): Promise<DeviceRecord | undefined>;
  /**
   * Asks upstream again about a known device whose cached record refused it (rate-limited by the
   * cache). Optional: without it a stale record stands until the next sync.
   */
  refresh?(deviceId: string): Promise<DeviceRecord | undefined>;
  inScope(deviceId: string): boolean;
  mayActFor(actorId: string, targetId: string): boolean;
  verifiedCas(): readonly CertInfo[];
  onChange(listener: (change: RegistryChange) => void): void;
  status(): RegistryStatus;
}
