import {
  MAX_SCOPE_PAGE_SIZE,
  type ScopeCa,
  type ScopeOne,
  type ScopePage,
} from '../../../src/iothub/scope-api.ts';
import type { DeviceRecord } from '../../../src/registry/device.ts';
import type { ScopeSource } from '../../../src/registry/index.ts';

/**
 * A scope source answering from fixture records in the same process, in place of the hub's HTTPS
 * scope API: the benchmark's Gatehouse runs its real registry cache (sync into SQLite, LRU, on-demand
 * lookups with their rate limit and negative cache) without a hub. Unknown ids answer "no such device".
 */
export function createFixtureScopeSource(options: {
  readonly edgeDeviceId: string;
  readonly records: readonly DeviceRecord[];
  readonly cas: readonly ScopeCa[];
}): ScopeSource {
  const { edgeDeviceId } = options;
  // The scope API serves the edge device's subtree, not the edge device itself.
  const scope = options.records.filter((r) => r.deviceId !== edgeDeviceId);
  const byId = new Map(scope.map((r) => [r.deviceId, r] as const));
  const caCertificates = [...options.cas];
  const pages = Math.max(1, Math.ceil(scope.length / MAX_SCOPE_PAGE_SIZE));
  return {
    fetchPage: async (continuation: string | null): Promise<ScopePage> => {
      const index =
        continuation === null ? 0 : Number(/^\/page\/(\d+)$/.exec(continuation)?.[1] ?? Number.NaN);
      if (!Number.isInteger(index) || index >= pages) throw new Error(`no such page: ${continuation}`);
      const start = index * MAX_SCOPE_PAGE_SIZE;
      return {
        edgeDeviceId,
        devices: scope.slice(start, start + MAX_SCOPE_PAGE_SIZE),
        caCertificates,
        continuationLink: index + 1 < pages ? `/page/${index + 1}` : null,
      };
    },
    fetchOne: async (deviceId: string): Promise<ScopeOne> => ({
      edgeDeviceId,
      device: byId.get(deviceId) ?? null,
      caCertificates,
    }),
  };
}
