import { writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../../../src/config/index.ts';
import type { GatewayConfig } from '../../../src/config/types.ts';
import { createGateway, type Gateway } from '../../../src/gateway.ts';
import { type HubHandle, startHub } from '../../../src/hub/index.ts';
import { iotHubUsername } from '../../../src/iothub/topics.ts';
import { createLogger } from '../../../src/logger.ts';
import type { LogLine } from '../../helpers/log.ts';
import {
  makeCred,
  makeTempDir,
  makeTestPki,
  type TestCred,
  type TestPki,
  writeTestCred,
} from '../../helpers/pki.ts';

export const GATEWAY_ID = 'gw-1';
export type { LogLine } from '../../helpers/log.ts';
export { eventually } from '../../helpers/wait.ts';

/**
 * A TCP relay the test can cut and restore, standing for "the hub's MQTT endpoint is unreachable"
 * while the hub itself (and its EST API) keeps running.
 */
/**
 * config.toml of a gateway whose registry and forwarder a test injects: local listener on port 0,
 * the Edge CA given, upstream settings present but never used. `extra` is appended (more tables).
 */
export function standaloneGatewayToml(o: {
  readonly dataDir: string;
  readonly edgeCa: { readonly chain: string; readonly key: string };
  readonly trustBundle?: string;
  readonly extra?: string;
}): string {
  return `hostname = "localhost"
trust_bundle_cert = "${o.trustBundle ?? 'unused.pem'}"
[provisioning]
iothub_hostname = "hub.local"
device_id = "${GATEWAY_ID}"
[provisioning.authentication]
method = "x509"
identity_cert = "unused.pem"
identity_pk = "unused.key.pem"
[edge_ca]
cert = "${o.edgeCa.chain}"
pk = "${o.edgeCa.key}"
[gateway]
data_dir = "${o.dataDir}"
listen_address = "127.0.0.1"
port = 0
${o.extra ?? ''}`;
}

export interface Relay {
  readonly port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async (): Promise<void> => {
    const s = createServer((inbound) => {
      const outbound = connect(targetPort, '127.0.0.1');
      for (const sock of [inbound, outbound]) {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => {
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const down = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return { port, down, up: listen, close: down };
}

export interface EstEnv {
  readonly dir: string;
  readonly hub: HubHandle;
  readonly pki: TestPki;
  readonly relay: Relay;
  readonly bootstrap: TestCred;
  readonly config: GatewayConfig;
  readonly logs: LogLine[];
  gw: Gateway;
  close(): Promise<void>;
}

/**
 * A hub, and a gateway that enrolls its identity over the hub's EST (bootstrap: a self-signed
 * certificate registered by thumbprint), with its upstream MQTT going through a relay.
 */
export async function startEstEnv(
  opts: { gatewayToml?: string; now?: () => number; estEdgeCa?: boolean } = {},
): Promise<EstEnv> {
  const { dir, cleanup } = await makeTempDir('gatehouse-life-');
  const hub = await startHub({
    dataDir: join(dir, 'hub'),
    mqttPort: 0,
    apiPort: 0,
    hostname: 'localhost',
    estCertDays: 30,
  });
  const relay = await startRelay(hub.mqttPort);
  const pki = await makeTestPki();
  const bootstrap = await makeCred('self-signed-device', GATEWAY_ID, undefined, { days: 3650 });
  await hub.admin.addDevice({
    deviceId: GATEWAY_ID,
    edge: true,
    auth: { type: 'selfSigned', primaryThumbprint: bootstrap.cert.sha256 },
  });
  const certs = join(dir, 'certs');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(certs, { recursive: true });
  const boot = await writeTestCred(certs, 'bootstrap', bootstrap);
  const edge = await writeTestCred(certs, 'edge-ca', pki.edgeCa);
  const configPath = join(dir, 'gateway.toml');
  await writeFile(
    configPath,
    `hostname = "localhost"
trust_bundle_cert = "${hub.rootCaPath}"

[provisioning]
iothub_hostname = "localhost"
device_id = "${GATEWAY_ID}"

[provisioning.authentication]
method = "x509"

${opts.estEdgeCa ? '[edge_ca]\nmethod = "est"' : `[edge_ca]\ncert = "${edge.chain}"\npk = "${edge.key}"`}

[cert_issuance.est]
url = "https://127.0.0.1:${hub.apiPort}/.well-known/est"
bootstrap_identity_cert = "${boot.cert}"
bootstrap_identity_pk = "${boot.key}"

[gateway]
data_dir = "${join(dir, 'data')}"
listen_address = "127.0.0.1"
port = 0
upstream_address = "127.0.0.1"
upstream_mqtt_port = ${relay.port}
upstream_api_port = ${hub.apiPort}
scope_api_port = 0
metrics_listen = "127.0.0.1:0"
${opts.gatewayToml ?? ''}
`,
  );
  const config = await loadConfig(configPath, { env: {} });
  const logs: LogLine[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (s: string) => logs.push(JSON.parse(s) as LogLine) },
  });
  const gw = await createGateway({ config, logger, ...(opts.now ? { now: opts.now } : {}) });
  const env: EstEnv = {
    dir,
    hub,
    pki,
    relay,
    bootstrap,
    config,
    logs,
    gw,
    async close() {
      await env.gw.close();
      await relay.close();
      await hub.close();
      await cleanup();
    },
  };
  return env;
}

/** An mqtt.js device client of the gateway over real TLS. */
export function connectDevice(
  port: number,
  trustPem: string,
  deviceId: string,
  cred: TestCred,
): Promise<MqttClient> {
  return mqtt.connectAsync({
    protocol: 'mqtts',
    host: '127.0.0.1',
    port,
    ca: trustPem,
    servername: 'localhost',
    clientId: deviceId,
    username: iotHubUsername('localhost', deviceId),
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    cert: cred.chainPem,
    key: cred.keyPem,
  });
}

/** Polls `check` every 20 ms until it holds (bounded by `ms`). */
