import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { GatehouseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import {
  type CertInfo,
  type Credential,
  credentialPaths,
  credentialToIssuer,
  EKU_SERVER_AUTH,
  exportPrivateKeyPem,
  generateKeyPair,
  issueCertificate,
  loadCredential,
  validateChain,
  writeCredential,
} from '../pki/index.ts';

export const ROOT_CA_NAME = 'root-ca';
export const SERVER_NAME = 'server';
const ROOT_DAYS = 3650;
const SERVER_DAYS = 365;
/** Reissue the server certificate when less than this is left, so a restart never serves one about to expire. */
const SERVER_RENEW_MS = 7 * 86_400_000;

export interface HubTls {
  readonly rootCaPath: string;
  readonly rootCaPem: string;
  readonly keyPem: string;
  /** Server certificate followed by nothing else: the root is the only issuer and clients hold it. */
  readonly certChainPem: string;
  readonly serverCert: CertInfo;
}

/**
 * The hub's stand-in for a public PKI: a root CA (what gateways put in trust_bundle_cert) and a server
 * certificate for `hostname` (CN and SAN; plus `host` when it is a specific IP, so clients connecting
 * by address verify too). Created on first start under DIR/tls/ and reused; the server certificate
 * alone is reissued when the names change or it nears expiry.
 */
export async function ensureHubTls(o: {
  readonly dataDir: string;
  readonly hostname: string;
  readonly host: string;
  readonly logger: Logger;
  readonly now?: Date;
}): Promise<HubTls> {
  const dir = join(o.dataDir, 'tls');
  const now = o.now ?? new Date();
  const root = await ensureRoot(dir, now, o.logger);
  const names = wantedNames(o.hostname, o.host);
  let server = existsSync(credentialPaths(dir, SERVER_NAME).cert)
    ? await loadCredential(dir, SERVER_NAME)
    : undefined;
  if (!server || !serverStillGood(server.cert, root.cert, names, now)) {
    server = await issueServer(dir, root, names, now);
    o.logger.info({ hostname: o.hostname, names }, 'issued the hub server certificate');
  }
  return {
    rootCaPath: credentialPaths(dir, ROOT_CA_NAME).cert,
    rootCaPem: root.cert.pem,
    keyPem: server.keyPem,
    certChainPem: server.cert.pem,
    serverCert: server.cert,
  };
}

async function ensureRoot(dir: string, now: Date, log: Logger): Promise<Credential> {
  if (existsSync(credentialPaths(dir, ROOT_CA_NAME).cert)) {
    const root = await loadCredential(dir, ROOT_CA_NAME);
    if (now.getTime() > root.cert.notAfter || !root.cert.isCa) {
      throw new GatehouseError(
        'GH_ERR_ISSUER',
        `the hub root CA in ${dir} is expired or not a CA; remove ${dir} to create a new one (gateways must then trust the new root)`,
      );
    }
    return root;
  }
  const keys = await generateKeyPair('ec-p256');
  const cert = await issueCertificate({
    profile: 'root',
    commonName: 'Gatehouse Hub Public Root CA',
    subjectKeys: keys,
    days: ROOT_DAYS,
    now,
  });
  const cred: Credential = { cert, chain: [cert], keyPem: await exportPrivateKeyPem(keys.privateKey) };
  await writeCredential(dir, ROOT_CA_NAME, cred, true);
  log.info({ path: credentialPaths(dir, ROOT_CA_NAME).cert }, 'created the hub root CA');
  return cred;
}

async function issueServer(
  dir: string,
  root: Credential,
  names: readonly string[],
  now: Date,
): Promise<Credential> {
  const keys = await generateKeyPair('ec-p256');
  const [hostname, ...extraNames] = names as [string, ...string[]];
  const cert = await issueCertificate({
    profile: 'server',
    commonName: hostname,
    subjectKeys: keys,
    issuer: await credentialToIssuer(root, 'hub root CA'),
    days: SERVER_DAYS,
    now,
    extraNames,
  });
  const cred: Credential = { cert, chain: [cert], keyPem: await exportPrivateKeyPem(keys.privateKey) };
  await writeCredential(dir, SERVER_NAME, cred, true);
  return cred;
}

function serverStillGood(cert: CertInfo, root: CertInfo, names: readonly string[], now: Date): boolean {
  const chain = validateChain({
    leaf: cert,
    anchors: [root],
    at: now.getTime() + SERVER_RENEW_MS,
    purpose: EKU_SERVER_AUTH,
  });
  if (!chain.ok || cert.subjectCn !== names[0]) return false;
  const have = new Set([...cert.dnsNames, ...cert.ipAddresses].map((n) => n.toLowerCase()));
  return names.every((n) => have.has(n.toLowerCase()));
}

function wantedNames(hostname: string, host: string): string[] {
  const specificIp = isIP(host) !== 0 && host !== '0.0.0.0' && host !== '::';
  return specificIp && host.toLowerCase() !== hostname.toLowerCase() ? [hostname, host] : [hostname];
}
