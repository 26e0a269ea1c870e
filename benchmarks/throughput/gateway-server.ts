/**
 * Gatehouse as the gateway under test, in its own process: the device broker (mTLS, registry in
 * memory) forwarding QoS 1 telemetry through the durable store-and-forward upstream link.
 * src/gateway.ts does the same wiring with config and the registry sync; this keeps only what the
 * telemetry path touches.
 */
import { startBroker } from '../../src/broker/index.ts';
import { CONFIG_DEFAULTS } from '../../src/config/defaults.ts';
import { createLogger } from '../../src/logger.ts';
import { createUpstream, type Upstream } from '../../src/upstream/index.ts';
import { fromParent, toParent } from '../lib/child.ts';
import type { GatewayInit } from './protocol.ts';
import { fixedRegistry } from './registry.ts';

let close: (() => Promise<void>) | undefined;
let upstream: Upstream | undefined;

async function start(init: GatewayInit): Promise<number> {
  const logger = createLogger({ level: 'warn' });
  upstream = createUpstream({
    settings: CONFIG_DEFAULTS.storeAndForward,
    dataDir: init.dataDir,
    deviceId: init.edgeDeviceId,
    iothubHostname: init.upstream.servername,
    host: init.upstream.host,
    port: init.upstream.port,
    servername: init.upstream.servername,
    caPem: init.upstream.caPem,
    certPem: init.identityCertPem,
    keyPem: init.identityKeyPem,
    logger,
  });
  const registry = fixedRegistry(init.edgeDeviceId, init.records);
  const broker = await startBroker({
    registry,
    forwarder: upstream,
    logger,
    limits: { ...CONFIG_DEFAULTS.limits, connectionsPerSecondPerSource: 10_000 },
    tls: { certChainPem: init.serverChainPem, keyPem: init.serverKeyPem },
    host: init.host,
    port: 0,
  });
  const up = upstream;
  close = async () => {
    await broker.close();
    await up.close();
  };
  return broker.port;
}

fromParent(async (message) => {
  switch (message.type) {
    case 'init': {
      const port = await start(message.init as GatewayInit);
      toParent({ type: 'ready', id: message.id, port });
      break;
    }
    case 'stats': {
      toParent({ type: 'stats', id: message.id, stats: upstream?.stats() });
      break;
    }
    case 'close': {
      await close?.();
      toParent({ type: 'closed', id: message.id });
      process.exit(0);
    }
  }
});
toParent({ type: 'loaded' });
