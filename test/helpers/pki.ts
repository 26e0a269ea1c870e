import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CertInfo,
  exportPrivateKeyPem,
  generateKeyPair,
  type IssueRequest,
  type Issuer,
  issueCertificate,
  type KeyType,
} from '../../src/pki/index.ts';

/** A certificate with its key, made at run time for one test. */
export interface TestCred extends Issuer {
  readonly keyPem: string;
  /** Leaf + intermediates, PEM, as a TLS peer sends it. */
  readonly chainPem: string;
}

export interface MakeOptions
  extends Partial<Omit<IssueRequest, 'subjectKeys' | 'issuer' | 'profile' | 'commonName'>> {
  readonly keyType?: KeyType;
  /** Intermediates to append to the chain PEM (the issuer's chain, excluding the root). */
  readonly chainExtra?: readonly CertInfo[];
}

export async function makeCred(
  profile: IssueRequest['profile'],
  commonName: string,
  issuer: Issuer | undefined,
  opts: MakeOptions = {},
): Promise<TestCred> {
  const keys = await generateKeyPair(opts.keyType ?? 'ec-p256');
  const cert = await issueCertificate({
    profile,
    commonName,
    subjectKeys: keys,
    ...(issuer ? { issuer } : {}),
    days: opts.days ?? 30,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.extraNames ? { extraNames: opts.extraNames } : {}),
    ...(opts.pathLen !== undefined ? { pathLen: opts.pathLen } : {}),
  });
  const keyPem = await exportPrivateKeyPem(keys.privateKey);
  const chainPem = [cert, ...(opts.chainExtra ?? [])].map((c) => c.pem).join('');
  return { cert, keys, keyPem, chainPem };
}

/** The whole demo-shaped PKI: root → intermediate → Edge CA, plus identities and devices on demand. */
export interface TestPki {
  readonly root: TestCred;
  readonly intermediate: TestCred;
  readonly edgeCa: TestCred;
  /** A CA-signed device certificate (CN = id, clientAuth) under the intermediate. */
  device(id: string, opts?: MakeOptions): Promise<TestCred>;
  /** A self-signed device certificate for thumbprint authentication. */
  selfSigned(id: string, opts?: MakeOptions): Promise<TestCred>;
  /** A server certificate for `hostname` issued by the Edge CA (chain: leaf + Edge CA + intermediate). */
  server(hostname: string, opts?: MakeOptions): Promise<TestCred>;
}

/** `now` pins the CAs' issuance instant (default: the real clock) for known-answer tests at fixed times. */
export async function makeTestPki(opts: { keyType?: KeyType; now?: Date } = {}): Promise<TestPki> {
  const keyType = opts.keyType ?? 'ec-p256';
  const at = opts.now ? { now: opts.now } : {};
  const root = await makeCred('root', 'Gatehouse Test Root CA', undefined, { keyType, days: 365, ...at });
  const intermediate = await makeCred('intermediate', 'Gatehouse Test Intermediate CA', root, {
    keyType,
    days: 365,
    ...at,
  });
  const edgeCa = await makeCred('edge-ca', 'Gatehouse Test Edge CA', intermediate, {
    keyType,
    days: 90,
    chainExtra: [intermediate.cert],
    ...at,
  });
  return {
    root,
    intermediate,
    edgeCa,
    device: (id, o = {}) =>
      makeCred('client', id, intermediate, { keyType, chainExtra: [intermediate.cert], ...o }),
    selfSigned: (id, o = {}) => makeCred('self-signed-device', id, undefined, { keyType, ...o }),
    server: (hostname, o = {}) =>
      makeCred('server', hostname, edgeCa, { keyType, chainExtra: [edgeCa.cert, intermediate.cert], ...o }),
  };
}

/** A temp directory owned by one test; `cleanup()` removes it. */
export async function makeTempDir(
  prefix = 'gatehouse-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes a credential as `NAME.cert.pem`, `NAME.key.pem`, `NAME.chain.pem` into dir; returns the paths. */
export async function writeTestCred(
  dir: string,
  name: string,
  cred: TestCred,
): Promise<{ cert: string; key: string; chain: string }> {
  const paths = {
    cert: join(dir, `${name}.cert.pem`),
    key: join(dir, `${name}.key.pem`),
    chain: join(dir, `${name}.chain.pem`),
  };
  await writeFile(paths.cert, cred.cert.pem);
  await writeFile(paths.key, cred.keyPem, { mode: 0o600 });
  await writeFile(paths.chain, cred.chainPem);
  return paths;
}
