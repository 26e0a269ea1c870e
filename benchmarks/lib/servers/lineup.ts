import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_GATEWAY_ID, BENCH_HOSTNAME, type BenchPki, type DeviceKind } from '../fixtures.ts';
import type { ServerHandle, ServerName } from './handle.ts';
import { mosquittoVersion, startMosquitto } from './mosquitto.ts';
import { startNodeServer } from './node-server.ts';

/** Starts any of the compared servers on 127.0.0.1 with the same certificates and the same devices. */

export const BENCH_HOST = '127.0.0.1';
const GATEWAY_MODULE = fileURLToPath(new URL('../../../src/gateway.ts', import.meta.url));

/** Why a server cannot run here, or undefined when it can. */
export function unavailableReason(name: ServerName): string | undefined {
  if (name === 'gatehouse' && !existsSync(GATEWAY_MODULE)) return 'src/gateway.ts does not exist yet';
  if (name === 'mosquitto' && mosquittoVersion() === null) {
    return 'mosquitto is not installed (Debian: apt-get install -y mosquitto)';
  }
  return undefined;
}

export interface StartServerOptions {
  readonly pki: BenchPki;
  /** Devices the clients will present: decides the bare server's check and Mosquitto's cafile. */
  readonly devices: DeviceKind;
  /** Thumbprint devices registered (client ids bench-thumbprint-0 … n-1). */
  readonly thumbprintDevices: number;
  /** Connections the server must take at once (limits and open files are raised to fit). */
  readonly maxConnections: number;
  /** Extra node flags per Node server (--expose-gc, --cpu-prof …). */
  readonly nodeFlags?: readonly string[];
  /** gatehouse: pino level of its log file (default info, as deployed). */
  readonly logLevel?: string;
}

let serial = 0;

export async function startServer(name: ServerName, options: StartServerOptions): Promise<ServerHandle> {
  const { pki } = options;
  const openFiles = options.maxConnections + 256;
  const flags = options.nodeFlags ? { nodeFlags: options.nodeFlags } : {};
  switch (name) {
    case 'node':
    case 'aedes':
      return startNodeServer(
        name,
        {
          host: BENCH_HOST,
          keyPem: pki.serverKeyPem,
          certChainPem: pki.serverChainPem,
          thumbprints: [...pki.thumbprintsOpenssl],
          ...(options.devices === 'ca' ? { caPem: pki.rootPem } : {}),
        },
        { ...flags, openFiles },
      );
    case 'mosquitto':
      return startMosquitto({
        dir: pki.dir,
        host: BENCH_HOST,
        cafile: options.devices === 'ca' ? pki.files.cafileCa : pki.files.cafileThumbprint,
        certfile: pki.files.serverChain,
        keyfile: pki.files.serverKey,
        openFiles,
      });
    case 'gatehouse': {
      const dataDir = join(pki.dir, `gatehouse-${process.pid}-${++serial}`);
      await mkdir(dataDir, { recursive: true });
      const configPath = join(dataDir, 'gateway.toml');
      await writeFile(
        configPath,
        gatewayToml(pki, dataDir, options.maxConnections, options.logLevel ?? 'info'),
      );
      return startNodeServer(
        'gatehouse',
        {
          host: BENCH_HOST,
          dataDir,
          configPath,
          serverChainPem: pki.serverChainPem,
          serverKeyPem: pki.serverKeyPem,
          records: pki.records(options.thumbprintDevices),
          verifiedCaPem: pki.rootPem,
          edgeDeviceId: BENCH_GATEWAY_ID,
        },
        { ...flags, openFiles },
      );
    }
    default:
      throw new Error(`cannot start server "${name}" here`);
  }
}

/**
 * The benchmark gateway's config. Everything is the default except what a load test from one address
 * needs: the per-source connection rate limit (default 50/s) and max_connections are raised, so the
 * limiter still runs on every connect but never refuses.
 */
function gatewayToml(pki: BenchPki, dataDir: string, maxConnections: number, logLevel: string): string {
  const q = (s: string): string => JSON.stringify(s);
  return [
    `hostname = ${q(BENCH_HOSTNAME)}`,
    `trust_bundle_cert = ${q(pki.files.root)}`,
    '',
    '[provisioning]',
    'source = "manual"',
    'iothub_hostname = "hub.bench.invalid"',
    `device_id = ${q(BENCH_GATEWAY_ID)}`,
    '',
    '[provisioning.authentication]',
    'method = "x509"',
    `identity_cert = ${q(pki.files.identityCert)}`,
    `identity_pk = ${q(pki.files.identityKey)}`,
    '',
    '[edge_ca]',
    `cert = ${q(pki.files.edgeCaChain)}`,
    `pk = ${q(pki.files.edgeCaKey)}`,
    '',
    '[gateway]',
    `data_dir = ${q(dataDir)}`,
    `listen_address = ${q(BENCH_HOST)}`,
    'port = 0',
    // Its own scope API (for child gateways) would otherwise take port 8443.
    'scope_api_port = 0',
    `log_level = ${q(logLevel)}`,
    '',
    '[gateway.limits]',
    `max_connections = ${Math.max(10_000, maxConnections + 100)}`,
    'connections_per_second_per_source = 100000',
    '',
  ].join('\n');
}
