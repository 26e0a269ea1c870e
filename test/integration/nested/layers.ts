import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../../../src/config/index.ts';
import { createGateway, type Gateway } from '../../../src/gateway.ts';
import { type HubHandle, startHub } from '../../../src/hub/index.ts';
import { iotHubUsername } from '../../../src/iothub/topics.ts';
import { createLogger } from '../../../src/logger.ts';
import {
  makeCred,
  makeTempDir,
  makeTestPki,
  type TestCred,
  type TestPki,
  writeTestCred,
} from '../../helpers/pki.ts';

/** One gateway layer of a hierarchy: layer 1's upstream is the hub, layer k's is layer k-1. */
export interface Layer {
  readonly index: number;
  readonly deviceId: string;
  readonly hostname: string;
  readonly identity: TestCred;
  readonly configPath: string;
  gw: Gateway;
  start(): Promise<Gateway>;
  sync(): Promise<boolean>;
}

export interface Hierarchy {
  readonly dir: string;
  readonly pki: TestPki;
  hub: HubHandle;
  readonly layers: Layer[];
  /** Layer k (1-based). */
  layer(k: number): Layer;
  /** Syncs every layer, top first, so a change at the hub reaches the bottom. */
  syncAll(): Promise<void>;
  /** Restarts the hub on the same data directory and ports (for link-down tests). */
  restartHub(): Promise<void>;
  /** An mqtt.js device client of layer k. */
  connect(k: number, deviceId: string, cred: TestCred): Promise<MqttClient>;
  close(): Promise<void>;
}

const logger = () => createLogger({ level: process.env.GATEHOUSE_TEST_LOG ? 'debug' : 'silent' });

/**
 * Builds hub ← L1 ← … ← Ln over real TLS on loopback, all ports 0: identities registered at the hub as
 * edge devices each under the one above, the private intermediate uploaded and verified, configs
 * written as TOML and loaded like a user's. Layers are started top-down by `start()`.
 */
export async function buildHierarchy(n: number): Promise<Hierarchy> {
  const { dir, cleanup } = await makeTempDir('gatehouse-nested-');
  const pki = await makeTestPki();
  const hubDir = join(dir, 'hub');
  let hub = await startHub({ dataDir: hubDir, mqttPort: 0, apiPort: 0, hostname: 'localhost' });
  const { verificationCode } = await hub.admin.uploadCa('private-intermediate', pki.intermediate.cert.pem);
  await hub.admin.verifyCa(
    'private-intermediate',
    (await makeCred('verification', verificationCode, pki.intermediate)).cert.pem,
  );
  const certs = join(dir, 'certs');
  await mkdir(certs, { recursive: true });
  const rootPath = join(certs, 'root.pem');
  await writeFile(rootPath, pki.root.cert.pem);

  const layers: Layer[] = [];
  for (let k = 1; k <= n; k++) {
    const deviceId = `layer-${k}`;
    const hostname = `l${k}.gatehouse.test`;
    const identity = await pki.device(deviceId);
    await hub.admin.addDevice({
      deviceId,
      auth: { type: 'selfSigned', primaryThumbprint: identity.cert.sha256 },
      edge: true,
      ...(k > 1 ? { parentId: `layer-${k - 1}` } : {}),
    });
    const edgeCa = await makeCred('edge-ca', `Layer ${k} Edge CA`, pki.intermediate, {
      chainExtra: [pki.intermediate.cert],
    });
    const id = await writeTestCred(certs, `identity-${k}`, identity);
    const edge = await writeTestCred(certs, `edge-ca-${k}`, edgeCa);
    const configPath = join(dir, `layer-${k}.toml`);
    const layer: Layer = {
      index: k,
      deviceId,
      hostname,
      identity,
      configPath,
      gw: undefined as unknown as Gateway,
      async start() {
        const parent = layers[k - 2];
        const upstream = parent
          ? { mqtt: parent.gw.port, api: parent.gw.scopeApiPort ?? 0 }
          : { mqtt: hub.mqttPort, api: hub.apiPort };
        await writeFile(
          configPath,
          `hostname = "${hostname}"
${parent ? `parent_hostname = "${parent.hostname}"` : ''}
trust_bundle_cert = "${parent ? rootPath : hub.rootCaPath}"

[provisioning]
source = "manual"
iothub_hostname = "localhost"
device_id = "${deviceId}"

[provisioning.authentication]
method = "x509"
identity_cert = "${id.chain}"
identity_pk = "${id.key}"

[edge_ca]
cert = "${edge.chain}"
pk = "${edge.key}"

[gateway]
data_dir = "${join(dir, `data-${k}`)}"
listen_address = "127.0.0.1"
port = 0
upstream_address = "127.0.0.1"
upstream_mqtt_port = ${upstream.mqtt}
upstream_api_port = ${upstream.api}
scope_api_port = 0
`,
        );
        const config = await loadConfig(configPath, { env: {} });
        layer.gw = await createGateway({ config, logger: logger() });
        return layer.gw;
      },
      sync: async () => (await layer.gw.registry.syncNow?.()) ?? false,
    };
    layers.push(layer);
  }

  const h: Hierarchy = {
    dir,
    pki,
    hub,
    layers,
    layer: (k) => {
      const l = layers[k - 1];
      if (!l) throw new Error(`no layer ${k}`);
      return l;
    },
    async syncAll() {
      for (const l of layers) {
        if (!(await l.sync()))
          throw new Error(`layer ${l.index} sync failed: ${l.gw.registry.status().lastError}`);
      }
    },
    async restartHub() {
      const { mqttPort, apiPort } = hub;
      await hub.close();
      hub = await startHub({ dataDir: hubDir, mqttPort, apiPort, hostname: 'localhost' });
      h.hub = hub;
    },
    connect: (k, deviceId, cred) =>
      mqtt.connectAsync({
        protocol: 'mqtts',
        host: '127.0.0.1',
        port: h.layer(k).gw.port,
        ca: pki.root.cert.pem,
        servername: h.layer(k).hostname,
        clientId: deviceId,
        username: iotHubUsername('localhost', deviceId),
        cert: cred.chainPem,
        key: cred.keyPem,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      }),
    async close() {
      for (const l of [...layers].reverse()) await l.gw?.close().catch(() => {});
      await hub.close().catch(() => {});
      await cleanup();
    },
  };
  return h;
}
