/**
 * The Gatehouse server under test, as a child process: the real gateway (createGateway from
 * src/gateway.ts, config read by loadConfig from a config.toml) with its real registry cache, synced
 * from fixture records by an in-process scope source, and a forwarder that drops messages: no hub is
 * needed. Logs go to a file in the data directory at the configured level (info, as deployed).
 * The server certificate the baselines present is stored where the gateway keeps its own, so it
 * reuses it instead of issuing one: all servers present the same chain (and the same key type).
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../../src/config/index.ts';
import { SERVER_CERT } from '../../../src/edge-ca/server-cert.ts';
import { createGateway } from '../../../src/gateway.ts';
import { createLogger } from '../../../src/logger.ts';
import { parseCertificatesPem, writeCredential } from '../../../src/pki/index.ts';
import { createRegistryCache, type RegistryCache } from '../../../src/registry/index.ts';
import { fromParent, replyGc, toParent } from '../child.ts';
import { createFixtureScopeSource } from './fixture-scope.ts';
import { createNoopForwarder } from './noop-forwarder.ts';
import type { GatehouseServerInit } from './protocol.ts';

let gateway: Awaited<ReturnType<typeof createGateway>> | undefined;
let registry: RegistryCache | undefined;

async function start(init: GatehouseServerInit): Promise<number> {
  const config = await loadConfig(init.configPath, { env: {} });
  const chain = parseCertificatesPem(init.serverChainPem, 'server chain');
  const [leaf] = chain;
  if (!leaf) throw new Error('server chain is empty');
  // src/gateway.ts keeps its certificates in <data_dir>/certs.
  await writeCredential(join(config.gateway.dataDir, 'certs'), SERVER_CERT, {
    cert: leaf,
    chain,
    keyPem: init.serverKeyPem,
  });
  const logger = createLogger({
    level: config.gateway.logLevel,
    destination: pino.destination({ dest: join(init.dataDir, 'gateway.log'), sync: false }),
  });
  const cas = parseCertificatesPem(init.verifiedCaPem, 'verified CAs').map((ca, i) => ({
    name: `bench-ca-${i}`,
    certificatePem: ca.pem,
    thumbprint: ca.sha256,
  }));
  registry = await createRegistryCache({
    dataDir: join(init.dataDir, 'registry'),
    edgeDeviceId: init.edgeDeviceId,
    settings: config.gateway.registry,
    source: createFixtureScopeSource({ edgeDeviceId: init.edgeDeviceId, records: init.records, cas }),
    logger,
    autoSync: false,
  });
  if (!(await registry.syncNow())) throw new Error('registry sync from the fixture scope failed');
  gateway = await createGateway({ config, logger, registry, forwarder: createNoopForwarder() });
  if (gateway.serverCertificate().sha256 !== leaf.sha256) {
    throw new Error('the gateway issued its own server certificate instead of reusing the benchmark one');
  }
  return gateway.port;
}

fromParent(async (message) => {
  switch (message.type) {
    case 'init':
      toParent({ type: 'ready', id: message.id, port: await start(message.init as GatehouseServerInit) });
      break;
    case 'gc':
      replyGc(message.id);
      break;
    case 'stats':
      toParent({ type: 'stats', id: message.id, served: gateway?.metrics.stats.handshakesOk });
      break;
    case 'close':
      await gateway?.close();
      // Injected, so not closed by the gateway.
      await registry?.close();
      toParent({ type: 'closed', id: message.id });
      // Exiting (not killing) lets --cpu-prof write its profile.
      setImmediate(() => process.exit(0));
      break;
  }
});
toParent({ type: 'loaded' });
