import type { BrokerRegistry, RegistryStatus } from '../../src/broker/index.ts';
import type { DeviceRecord } from '../../src/registry/device.ts';
import { isInSubtree } from '../../src/registry/scope.ts';

/**
 * The gateway's registry cache for the throughput benchmark: the fixture records, in memory, always
 * "synced". Lookups cost a Map get, as a warm cache hit does; the benchmark measures telemetry, not sync.
 */
export function fixedRegistry(edgeDeviceId: string, records: readonly DeviceRecord[]): BrokerRegistry {
  const byId = new Map(records.map((r) => [r.deviceId, r] as const));
  const get = (id: string): DeviceRecord | undefined => byId.get(id);
  const status: RegistryStatus = { state: 'synced', size: byId.size, lastSyncAt: Date.now() };
  return {
    get,
    lookup: async (id) => get(id),
    inScope: (id) => isInSubtree(get, edgeDeviceId, id),
    mayActFor: (actorId, targetId) => actorId === targetId || isInSubtree(get, actorId, targetId),
    verifiedCas: () => [],
    onChange: () => {},
    status: () => status,
  };
}
