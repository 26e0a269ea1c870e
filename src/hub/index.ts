import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { GatehouseError } from '../errors.ts';
import { type Logger, silentLogger } from '../logger.ts';
import { isDnsName } from '../pki/profiles.ts';
import { createHubAdminClient, type HubAdminClient } from './admin-client.ts';
import { createAdminRoutes } from './admin-routes.ts';
import { type ApiServer, startApiServer } from './api-server.ts';
import { C2dDispatcher } from './c2d-dispatch.ts';
import { C2dQueue } from './c2d-queue.ts';
import { CaRegistry } from './cas.ts';
import { DeviceRegistry } from './devices.ts';
import { EST_EDGE_ROOT_NAME, ensureEstCa } from './est-ca.ts';
import { createEstRoutes } from './est-routes.ts';
import {
  assertNoOtherHub,
  ensureAdminToken,
  hubFiles,
  prepareDataDir,
  removeHubInfo,
  writeHubInfo,
} from './hub-file.ts';
import { MessageStore } from './messages.ts';
import { type MqttEndpoint, startMqttEndpoint } from './mqtt-endpoint.ts';
import { createScopeRoutes } from './scope-routes.ts';
import { type HubDb, openHubDb } from './store.ts';
import { ensureHubTls } from './tls-material.ts';

export type { HubAdminClient, StoredMessage } from './admin-client.ts';
export { connectHubAdmin, createHubAdminClient } from './admin-client.ts';

export interface HubOptions {
  /** State (hub.db), tls/, hub.json and admin.token live here. Created 0700 when missing. */
  dataDir: string;
  /** Listen address. Default '127.0.0.1'. */
  host?: string;
  /** MQTT over TLS. Default 8883; 0 = any free port. */
  mqttPort?: number;
  /** HTTPS admin + scope API. Default 8443; 0 = any free port. */
  apiPort?: number;
  /** CN + SAN of the hub's server certificate. Default 'localhost'. */
  hostname?: string;
  /** Lifetime of identity certificates issued over EST, days. Default 90. */
  estCertDays?: number;
  /** Default: silent. */
  logger?: Logger;
}

export interface HubHandle {
  readonly mqttPort: number;
  readonly apiPort: number;
  readonly host: string;
  readonly hostname: string;
  /** DATA/tls/root-ca.cert.pem: the "public" root gateways put in trust_bundle_cert. */
  readonly rootCaPath: string;
  readonly rootCaPem: string;
  /** An HTTPS client of this hub's admin API (the same the CLI uses). */
  readonly admin: HubAdminClient;
  close(): Promise<void>;
}

/** Starts the mock IoT Hub: registry, CA proof of possession, MQTT telemetry sink, C2D, admin and scope APIs. */
export async function startHub(opts: HubOptions): Promise<HubHandle> {
  const host = opts.host ?? '127.0.0.1';
  const hostname = opts.hostname ?? 'localhost';
  const mqttPort = port(opts.mqttPort ?? 8883, 'mqttPort');
  const apiPort = port(opts.apiPort ?? 8443, 'apiPort');
  if (!isDnsName(hostname) && isIP(hostname) === 0) {
    throw new GatehouseError(
      'GH_ERR_INPUT',
      `hostname "${hostname}" is neither a DNS name nor an IP address`,
    );
  }
  if (host.length === 0 || host.length > 255)
    throw new GatehouseError('GH_ERR_INPUT', 'host must be an address');
  if (!opts.dataDir) throw new GatehouseError('GH_ERR_INPUT', 'dataDir is required');
  const dataDir = resolve(opts.dataDir);
  const root = opts.logger ?? silentLogger();
  const log = root.child({ component: 'hub' });

  await prepareDataDir(dataDir);
  await assertNoOtherHub(dataDir);
  const tls = await ensureHubTls({ dataDir, hostname, host, logger: log });
  const token = await ensureAdminToken(dataDir);

  const db = openHubDb(hubFiles(dataDir).db);
  let mqtt: MqttEndpoint | undefined;
  let api: ApiServer | undefined;
  try {
    const devices = new DeviceRegistry(db);
    const cas = new CaRegistry(db);
    const messages = new MessageStore(db);
    const c2d = new C2dQueue(db);
    const dispatcher = new C2dDispatcher({ queue: c2d, logger: root.child({ component: 'hub-c2d' }) });
    mqtt = await startMqttEndpoint({
      host,
      port: mqttPort,
      keyPem: tls.keyPem,
      certChainPem: tls.certChainPem,
      devices,
      cas,
      messages,
      dispatcher,
      logger: root.child({ component: 'hub-mqtt' }),
    });
    const endpoint = mqtt;
    const apiLog = root.child({ component: 'hub-api' });
    // EST (certificate lifecycle): the EST CA under DATA/tls.
    const estCa = await ensureEstCa({ dataDir, logger: log });
    const estEdgeRoot = await ensureEstCa({
      dataDir,
      logger: log,
      name: EST_EDGE_ROOT_NAME,
      commonName: 'Gatehouse Hub Edge CA Root',
    });
    api = await startApiServer({
      host,
      port: apiPort,
      keyPem: tls.keyPem,
      certChainPem: tls.certChainPem,
      token,
      admin: createAdminRoutes({
        devices,
        cas,
        messages,
        c2d,
        dispatcher,
        onDeviceRevoked: (id) => endpoint.disconnectDevice(id),
        logger: apiLog,
      }),
      scope: createScopeRoutes({ devices, cas, logger: apiLog }),
      est: createEstRoutes({
        devices,
        cas,
        estCa,
        estEdgeRoot,
        certDays: opts.estCertDays ?? 90,
        logger: apiLog,
      }),
      logger: apiLog,
    });
    await writeHubInfo(dataDir, { host, mqttPort: mqtt.port, apiPort: api.port, hostname, pid: process.pid });
  } catch (err) {
    await shutdown(db, mqtt, api);
    throw err;
  }

  const running = { mqtt, api };
  log.info({ host, hostname, mqttPort: mqtt.port, apiPort: api.port, dataDir }, 'hub started');
  let closing: Promise<void> | undefined;
  return {
    mqttPort: mqtt.port,
    apiPort: api.port,
    host,
    hostname,
    rootCaPath: tls.rootCaPath,
    rootCaPem: tls.rootCaPem,
    admin: createHubAdminClient({ host, port: api.port, token, caPem: tls.rootCaPem, servername: hostname }),
    close() {
      closing ??= (async () => {
        await shutdown(db, running.mqtt, running.api);
        await removeHubInfo(dataDir);
        log.info('hub stopped');
      })();
      return closing;
    },
  };
}

async function shutdown(
  db: HubDb,
  mqtt: MqttEndpoint | undefined,
  api: ApiServer | undefined,
): Promise<void> {
  await Promise.allSettled([mqtt?.close(), api?.close()]);
  if (db.open) db.close();
}

function port(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    throw new GatehouseError('GH_ERR_INPUT', `${name} must be a whole number from 0 to 65535, got ${value}`);
  }
  return value;
}
