import { mkdir, writeFile } from 'node:fs/promises';

export { closed, nextMessage, subscribeGranted } from '../../helpers/mqtt.ts';

import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import * as mqttPacket from 'mqtt-packet';
import { loadConfig } from '../../../src/config/index.ts';
import type { GatewayConfig } from '../../../src/config/types.ts';
import { type CreateGatewayOptions, createGateway, type Gateway } from '../../../src/gateway.ts';
import { type HubHandle, startHub } from '../../../src/hub/index.ts';
import { iotHubUsername } from '../../../src/iothub/topics.ts';
import { createLogger } from '../../../src/logger.ts';
import type { DeviceAuthentication } from '../../../src/registry/device.ts';
import { type LogLine, logSink } from '../../helpers/log.ts';
import {
  makeCred,
  makeTempDir,
  makeTestPki,
  type TestCred,
  type TestPki,
  writeTestCred,
} from '../../helpers/pki.ts';
import { refusalOf } from '../../helpers/refusal.ts';

export const GATEWAY_ID = 'gw-1';

export { type LogLine, logSink } from '../../helpers/log.ts';
export { eventually } from '../../helpers/wait.ts';

export interface EnvOptions {
  /** "configured": [edge_ca] from the test PKI (default); "quickstart": no [edge_ca]. */
  readonly edgeCa?: 'configured' | 'quickstart';
  /** Extra TOML appended to [gateway] (e.g. limits). Written as-is. */
  readonly gatewayToml?: string;
  /** Tables appended after [gateway] (e.g. "[gateway.limits]\n…"). */
  readonly extraToml?: string;
  /** Start the gateway now (default true). */
  readonly start?: boolean;
  readonly gatewayOptions?: Partial<Omit<CreateGatewayOptions, 'config' | 'logger'>>;
}

/** A mock hub, a gateway registered at it as an edge device, and the PKI both use. All on port 0. */
export interface GatewayEnv {
  readonly pki: TestPki;
  hub: HubHandle;
  /** Stops the hub (the gateway keeps running). */
  stopHub(): Promise<void>;
  /** Starts the hub again on its data directory and its previous ports. */
  restartHub(): Promise<void>;
  readonly dir: string;
  readonly configPath: string;
  readonly config: GatewayConfig;
  readonly logs: LogLine[];
  /** The root devices trust for the gateway's server certificate (configured Edge CA). */
  readonly deviceTrustPem: string;
  gw: Gateway;
  startGateway(): Promise<Gateway>;
  /** Registers a device at the hub under the gateway (parentId = gateway) unless told otherwise. */
  addDevice(
    deviceId: string,
    auth: DeviceAuthentication,
    extra?: { parentId?: string | null; edge?: boolean; disabled?: boolean },
  ): Promise<void>;
  /** Uploads `ca` to the hub and proves possession, so devices under it authenticate. */
  verifyCa(name: string, ca: TestCred): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export const thumbprintAuth = (cred: TestCred, secondary?: string): DeviceAuthentication => ({
  type: 'selfSigned',
  primaryThumbprint: cred.cert.sha256,
  ...(secondary ? { secondaryThumbprint: secondary } : {}),
});

export async function startGatewayEnv(opts: EnvOptions = {}): Promise<GatewayEnv> {
  const { dir, cleanup } = await makeTempDir('gatehouse-gw-');
  const pki = await makeTestPki();
  const hub = await startHub({ dataDir: join(dir, 'hub'), mqttPort: 0, apiPort: 0, hostname: 'localhost' });
  let hubRunning = true;
  const identity = await makeCred('self-signed-device', GATEWAY_ID, undefined);
  await hub.admin.addDevice({ deviceId: GATEWAY_ID, auth: thumbprintAuth(identity), edge: true });
  const certs = join(dir, 'certs');
  await mkdir(certs, { recursive: true });
  const id = await writeTestCred(certs, 'identity', identity);
  const edge = await writeTestCred(certs, 'edge-ca', pki.edgeCa);
  const configPath = join(dir, 'gateway.toml');
  const edgeCaToml =
    (opts.edgeCa ?? 'configured') === 'configured'
      ? `[edge_ca]\ncert = "${edge.chain}"\npk = "${edge.key}"\n`
      : '[edge_ca]\nauto_generated_edge_ca_expiry_days = 30\n';
  await writeFile(
    configPath,
    `hostname = "localhost"
trust_bundle_cert = "${hub.rootCaPath}"

[provisioning]
source = "manual"
iothub_hostname = "localhost"
device_id = "${GATEWAY_ID}"

[provisioning.authentication]
method = "x509"
identity_cert = "${id.chain}"
identity_pk = "${id.key}"

${edgeCaToml}
[gateway]
data_dir = "${join(dir, 'data')}"
listen_address = "127.0.0.1"
port = 0
upstream_address = "127.0.0.1"
upstream_mqtt_port = ${hub.mqttPort}
upstream_api_port = ${hub.apiPort}
scope_api_port = 0
metrics_listen = "127.0.0.1:0"
${opts.gatewayToml ?? ''}
${opts.extraToml ?? ''}
`,
  );
  const config = await loadConfig(configPath, { env: {} });
  const sink = logSink();
  const env: GatewayEnv = {
    pki,
    hub,
    dir,
    configPath,
    config,
    logs: sink.lines,
    deviceTrustPem: pki.root.cert.pem,
    gw: undefined as unknown as Gateway,
    async stopHub() {
      await env.hub.close();
      hubRunning = false;
    },
    async restartHub() {
      const { mqttPort, apiPort } = env.hub;
      env.hub = await startHub({ dataDir: join(dir, 'hub'), mqttPort, apiPort, hostname: 'localhost' });
      hubRunning = true;
    },
    async startGateway() {
      env.gw = await createGateway({
        config,
        logger: createLogger({ level: 'debug', destination: sink }),
        ...opts.gatewayOptions,
      });
      return env.gw;
    },
    async addDevice(deviceId, auth, extra = {}) {
      const parentId = extra.parentId === undefined ? GATEWAY_ID : (extra.parentId ?? undefined);
      await env.hub.admin.addDevice({
        deviceId,
        auth,
        ...(parentId ? { parentId } : {}),
        ...(extra.edge ? { edge: true } : {}),
        ...(extra.disabled ? { disabled: true } : {}),
      });
    },
    async verifyCa(name, ca) {
      const { verificationCode } = await env.hub.admin.uploadCa(name, ca.cert.pem);
      const proof = await makeCred('verification', verificationCode, ca);
      await env.hub.admin.verifyCa(name, proof.cert.pem);
    },
    async sync() {
      const ok = await env.gw.registry.syncNow?.();
      if (!ok) throw new Error(`registry sync failed: ${env.gw.registry.status().lastError}`);
    },
    async close() {
      await env.gw?.close();
      if (hubRunning) await env.hub.close();
      await cleanup();
    },
  };
  if (opts.start ?? true) await env.startGateway();
  return env;
}

export interface DeviceConnectOptions extends Partial<IClientOptions> {
  /** Trust for the gateway's server certificate. Default: the env's device trust root. */
  readonly trustPem?: string;
}

/** An mqtt.js device client of the gateway over real TLS; rejects on refusal (code 5) or TLS error. */
export function connectDevice(
  env: GatewayEnv,
  deviceId: string,
  cred: TestCred | undefined,
  opts: DeviceConnectOptions = {},
): Promise<MqttClient> {
  const { trustPem, ...rest } = opts;
  return mqtt.connectAsync({
    protocol: 'mqtts',
    host: '127.0.0.1',
    port: env.gw.port,
    ca: trustPem ?? env.deviceTrustPem,
    servername: 'localhost',
    clientId: deviceId,
    username: iotHubUsername('localhost', deviceId),
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...(cred ? { cert: cred.chainPem, key: cred.keyPem } : {}),
    ...rest,
  });
}

/** The CONNACK return code (or error code/message) of a refused connection; undefined when accepted. */
export function refusal(
  env: GatewayEnv,
  deviceId: string,
  cred: TestCred | undefined,
  opts: DeviceConnectOptions = {},
): Promise<number | string | undefined> {
  return refusalOf(() => connectDevice(env, deviceId, cred, opts));
}

/** The "device refused" log lines for a device. */
export const refusalsFor = (env: GatewayEnv, deviceId: string): LogLine[] =>
  env.logs.filter((l) => l.msg === 'device refused' && l.deviceId === deviceId);

/** Polls `check` every 20 ms until it holds (bounded by `ms`). */

/** GET on the gateway's metrics server: status and body (JSON parsed when it is JSON). */
export async function httpGet(
  port: number,
  path: string,
): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body, text };
}

/**
 * One MQTT 3.1.1 CONNECT over a raw Node TLS socket, for what mqtt.js does not expose (TLS session
 * resumption). Resolves the CONNACK return code, whether the TLS session was resumed, and the
 * session ticket to resume with next time.
 */
export function rawConnect(
  env: GatewayEnv,
  clientId: string,
  cred: TestCred,
  session?: Buffer,
): Promise<{ returnCode: number | undefined; reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    let returnCode: number | undefined;
    let reused = false;
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: env.gw.port,
      ca: env.deviceTrustPem,
      servername: 'localhost',
      cert: cred.chainPem,
      key: cred.keyPem,
      ...(session ? { session } : {}),
    });
    const timer = setTimeout(() => socket.destroy(new Error('no CONNACK')), 10_000);
    socket.on('session', (s: Buffer) => {
      ticket = s;
      if (returnCode !== undefined) socket.end();
    });
    socket.on('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          keepalive: 30,
          clientId,
        }),
      );
    });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd !== 'connack') return;
      returnCode = p.returnCode;
      // Wait for the TLS 1.3 ticket, which may arrive after the handshake.
      if (ticket || session) socket.end();
    });
    socket.on('data', (b: Buffer) => parser.parse(b));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ returnCode, reused, session: ticket });
    });
  });
}
