import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyType } from '../../src/pki/index.ts';
import { toOpensslForm } from '../../src/pki/index.ts';
import type { DeviceRecord } from '../../src/registry/device.ts';
import { makeTestPki, type TestCred } from '../../test/helpers/pki.ts';

/**
 * The certificates every server in one benchmark run shares, made at run time (never checked in):
 * root → intermediate → Edge CA → server "localhost" (key type of the scenario), and device
 * certificates (always ECDSA P-256, so the client side costs the same whatever the server key).
 */

/** The gateway's own device id at the (imaginary) hub; bench devices are its children. */
export const BENCH_GATEWAY_ID = 'bench-gateway';
export const BENCH_HOSTNAME = 'localhost';

/** How clients authenticate. `unknown` devices are in no registry, Set or cafile: the refusal path. */
export type DeviceKind = 'thumbprint' | 'ca' | 'unknown';

/** One client's identity as the load generator uses it. */
export interface BenchIdentity {
  readonly clientId: string;
  /** Leaf (+ intermediate for CA devices), PEM, as the client presents it. */
  readonly certPem: string;
  readonly keyPem: string;
}

export interface BenchPkiFiles {
  readonly root: string;
  readonly serverChain: string;
  readonly serverKey: string;
  /** Edge CA + intermediate, and its key: what `[edge_ca]` points at. */
  readonly edgeCaChain: string;
  readonly edgeCaKey: string;
  /** The gateway's identity certificate and key (`[provisioning.authentication]`). */
  readonly identityCert: string;
  readonly identityKey: string;
  /** Trust anchors for Mosquitto's `cafile` per device kind. */
  readonly cafileThumbprint: string;
  readonly cafileCa: string;
}

export interface BenchPki {
  readonly dir: string;
  readonly serverKeyType: KeyType;
  readonly files: BenchPkiFiles;
  readonly rootPem: string;
  readonly serverChainPem: string;
  readonly serverKeyPem: string;
  /** SHA-256 thumbprints of the registered self-signed certificates, openssl form (AB:CD:…). */
  readonly thumbprintsOpenssl: ReadonlySet<string>;
  /** `count` identities of a kind; clients i and i + pool share a certificate but never a client id. */
  identities(kind: DeviceKind, count: number): BenchIdentity[];
  /** Registry records: the gateway, `thumbprintDevices` thumbprint devices and the CA devices. */
  records(thumbprintDevices: number): DeviceRecord[];
}

export interface CreateBenchPkiOptions {
  readonly dir: string;
  readonly serverKeyType: KeyType;
  /** Distinct certificates per device kind. CA devices need one each (CN = device id). */
  readonly pool: number;
}

const clientIdOf = (kind: DeviceKind, i: number): string => `bench-${kind}-${i}`;

export async function createBenchPki(options: CreateBenchPkiOptions): Promise<BenchPki> {
  const { dir, serverKeyType, pool } = options;
  await mkdir(dir, { recursive: true });
  const pki = await makeTestPki({ keyType: serverKeyType });
  const server = await pki.server(BENCH_HOSTNAME, { extraNames: ['127.0.0.1'] });
  const device = { keyType: 'ec-p256' as const };
  const identity = await pki.selfSigned(BENCH_GATEWAY_ID, device);
  const selfSigned: TestCred[] = [];
  const caSigned: TestCred[] = [];
  const unknown: TestCred[] = [];
  for (let i = 0; i < pool; i++) {
    selfSigned.push(await pki.selfSigned(clientIdOf('thumbprint', i), device));
    caSigned.push(await pki.device(clientIdOf('ca', i), device));
    unknown.push(await pki.selfSigned(clientIdOf('unknown', i), device));
  }

  const files: BenchPkiFiles = {
    root: join(dir, 'root.pem'),
    serverChain: join(dir, 'server.chain.pem'),
    serverKey: join(dir, 'server.key.pem'),
    edgeCaChain: join(dir, 'edge-ca.chain.pem'),
    edgeCaKey: join(dir, 'edge-ca.key.pem'),
    identityCert: join(dir, 'identity.cert.pem'),
    identityKey: join(dir, 'identity.key.pem'),
    cafileThumbprint: join(dir, 'cafile-thumbprint.pem'),
    cafileCa: join(dir, 'cafile-ca.pem'),
  };
  await writeFile(files.root, pki.root.cert.pem);
  await writeFile(files.serverChain, server.chainPem);
  await writeFile(files.serverKey, server.keyPem, { mode: 0o600 });
  await writeFile(files.edgeCaChain, pki.edgeCa.chainPem);
  await writeFile(files.edgeCaKey, pki.edgeCa.keyPem, { mode: 0o600 });
  await writeFile(files.identityCert, identity.chainPem);
  await writeFile(files.identityKey, identity.keyPem, { mode: 0o600 });
  // A self-signed certificate trusted as its own anchor is Mosquitto's nearest thing to thumbprint auth.
  await writeFile(files.cafileThumbprint, selfSigned.map((c) => c.cert.pem).join(''));
  await writeFile(files.cafileCa, pki.root.cert.pem);

  const lastUpdated = new Date().toISOString();
  const base = { status: 'enabled' as const, etag: 'bench', generation: 1, lastUpdated };
  return {
    dir,
    serverKeyType,
    files,
    rootPem: pki.root.cert.pem,
    serverChainPem: server.chainPem,
    serverKeyPem: server.keyPem,
    thumbprintsOpenssl: new Set(selfSigned.map((c) => toOpensslForm(c.cert.sha256))),
    identities(kind, count) {
      const creds = kind === 'thumbprint' ? selfSigned : kind === 'ca' ? caSigned : unknown;
      if (kind === 'ca' && count > pool) {
        throw new RangeError(`CA devices need one certificate each: ${count} requested, pool is ${pool}`);
      }
      return Array.from({ length: count }, (_, i) => {
        const cred = creds[i % pool] as TestCred;
        // A CA device's id is its certificate's CN; others are numbered past the pool.
        return { clientId: clientIdOf(kind, i), certPem: cred.chainPem, keyPem: cred.keyPem };
      });
    },
    records(thumbprintDevices) {
      const out: DeviceRecord[] = [
        {
          ...base,
          deviceId: BENCH_GATEWAY_ID,
          authentication: { type: 'selfSigned', primaryThumbprint: identity.cert.sha256 },
          capabilities: { iotEdge: true },
        },
      ];
      for (let i = 0; i < thumbprintDevices; i++) {
        out.push({
          ...base,
          deviceId: clientIdOf('thumbprint', i),
          authentication: {
            type: 'selfSigned',
            primaryThumbprint: (selfSigned[i % pool] as TestCred).cert.sha256,
          },
          capabilities: { iotEdge: false },
          parentId: BENCH_GATEWAY_ID,
        });
      }
      for (let i = 0; i < pool; i++) {
        out.push({
          ...base,
          deviceId: clientIdOf('ca', i),
          authentication: { type: 'certificateAuthority' },
          capabilities: { iotEdge: false },
          parentId: BENCH_GATEWAY_ID,
        });
      }
      return out;
    },
  };
}
