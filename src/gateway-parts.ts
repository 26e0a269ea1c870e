import type { GatewayConfig } from './config/types.ts';
import type { TlsMaterial } from './edge-ca/index.ts';
import type { GatewayRegistry } from './gateway.ts';
import type { Logger } from './logger.ts';
import { readTextFile } from './pki/index.ts';
import { createRegistryCache, createScopeClient, type RegistryCache } from './registry/index.ts';
import { type ScopeServer, startScopeServer } from './registry/scope-server.ts';
import { createUpstream } from './upstream/index.ts';
import type { Forwarder } from './upstream/types.ts';

/**
 * What a gateway builds from its own configuration when nothing is injected (tests and benchmarks
 * inject a registry and a forwarder): the registry cache synced from the upstream scope API, the
 * store-and-forward link upstream, and the scope API it serves its child gateways.
 */

/** PEM material for the upstream connections (only read when the gateway creates them itself). */
export interface UpstreamMaterial {
  readonly caPem: string;
  // Mutable: a manual identity reload (SIGHUP) replaces them; clients read them per connection.
  certPem: string;
  keyPem: string;
  /** The name the upstream's certificate must carry. */
  readonly servername: string;
}

export async function upstreamMaterial(config: GatewayConfig): Promise<UpstreamMaterial> {
  return {
    caPem: await readTextFile(config.trustBundleCert, 'trust_bundle_cert'),
    certPem: await readTextFile(
      config.provisioning.identityCert,
      '[provisioning.authentication] identity_cert',
    ),
    keyPem: await readTextFile(config.provisioning.identityPk, '[provisioning.authentication] identity_pk'),
    servername: config.parentHostname ?? config.provisioning.iothubHostname,
  };
}

export function createOwnRegistry(
  config: GatewayConfig,
  logger: Logger,
  m: UpstreamMaterial,
  now: () => number,
): Promise<RegistryCache> {
  const edgeDeviceId = config.provisioning.deviceId;
  return createRegistryCache({
    dataDir: config.gateway.dataDir,
    edgeDeviceId,
    settings: config.gateway.registry,
    source: createScopeClient({
      host: config.gateway.upstreamAddress,
      port: config.gateway.upstreamApiPort,
      servername: m.servername,
      edgeDeviceId,
      caPem: m.caPem,
      // Getters: the scope client reads them per request, so a renewed EST identity is used at once.
      get certPem() {
        return m.certPem;
      },
      get keyPem() {
        return m.keyPem;
      },
    }),
    logger,
    now,
  });
}

export function createOwnForwarder(
  config: GatewayConfig,
  logger: Logger,
  m: UpstreamMaterial,
  now: () => number,
): Forwarder {
  return createUpstream({
    settings: config.gateway.storeAndForward,
    durability: config.gateway.storeAndForward.durability,
    dataDir: config.gateway.dataDir,
    deviceId: config.provisioning.deviceId,
    iothubHostname: config.provisioning.iothubHostname,
    host: config.gateway.upstreamAddress,
    port: config.gateway.upstreamMqttPort,
    servername: m.servername,
    caPem: m.caPem,
    certPem: m.certPem,
    keyPem: m.keyPem,
    logger,
    now,
  });
}

/** Child gateways sync their scope from this one; needs a full registry cache (records()). */
export async function startOwnScopeServer(
  config: GatewayConfig,
  logger: Logger,
  registry: GatewayRegistry,
  material: TlsMaterial,
): Promise<ScopeServer | undefined> {
  if (typeof registry.records !== 'function') return undefined;
  return startScopeServer({
    cache: registry as RegistryCache,
    tls: { cert: material.server.chainPem, key: material.server.keyPem },
    host: config.gateway.listenAddress,
    port: config.gateway.scopeApiPort,
    logger,
  });
}
