import type { UpstreamState } from '../upstream/types.ts';
import type { RegistryStatus } from './types.ts';

export type HealthBody =
  | { readonly status: 'ready' }
  | {
      readonly status: 'degraded' | 'offline';
      readonly listening: boolean;
      readonly registry: string;
      readonly registrySize: number;
      readonly lastSyncAt: string | undefined;
      readonly registryError: string | undefined;
      readonly upstream: UpstreamState;
    };

export interface Health {
  readonly httpStatus: 200 | 503;
  readonly body: HealthBody;
}

/**
 * The gateway's health, a pure function of its parts:
 * - ready: listening, registry synced, upstream connected;
 * - offline (503): not listening, or no registry data at all (nobody could be authenticated);
 * - degraded: serving from a stale/offline registry snapshot or without an upstream link — devices
 *   still connect and telemetry is stored, which is the point of an edge gateway.
 */
export function healthOf(listening: boolean, registry: RegistryStatus, upstream: UpstreamState): Health {
  if (listening && registry.state === 'synced' && upstream === 'connected') {
    return { httpStatus: 200, body: { status: 'ready' } };
  }
  const offline = !listening || registry.state === 'empty';
  return {
    httpStatus: offline ? 503 : 200,
    body: {
      status: offline ? 'offline' : 'degraded',
      listening,
      registry: registry.state,
      registrySize: registry.size,
      lastSyncAt: registry.lastSyncAt === undefined ? undefined : new Date(registry.lastSyncAt).toISOString(),
      registryError: registry.lastError,
      upstream,
    },
  };
}
