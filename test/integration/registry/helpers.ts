import type { HubHandle } from '../../../src/hub/index.ts';
import { silentLogger } from '../../../src/logger.ts';
import { createRegistryCache, createScopeClient, type RegistryCache } from '../../../src/registry/index.ts';
import type { TestCred } from '../../helpers/pki.ts';

/** An edge gateway's registry cache in `dataDir`, synced (by hand: no timer) from the mock hub's scope API. */
export function cacheSyncedFromHub(o: {
  readonly hub: HubHandle;
  readonly dataDir: string;
  readonly edgeDeviceId: string;
  readonly identity: TestCred;
  readonly pageSize?: number;
}): Promise<RegistryCache> {
  return createRegistryCache({
    dataDir: o.dataDir,
    edgeDeviceId: o.edgeDeviceId,
    settings: { refreshIntervalSecs: 3600, cacheSize: 100, onDemandMinIntervalSecs: 0, negativeTtlSecs: 0 },
    source: createScopeClient({
      host: '127.0.0.1',
      port: o.hub.apiPort,
      servername: o.hub.hostname,
      edgeDeviceId: o.edgeDeviceId,
      caPem: o.hub.rootCaPem,
      certPem: o.identity.chainPem,
      keyPem: o.identity.keyPem,
      ...(o.pageSize !== undefined ? { pageSize: o.pageSize } : {}),
    }),
    logger: silentLogger(),
    autoSync: false,
  });
}
