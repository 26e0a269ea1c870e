import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GatehouseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import {
  type Credential,
  credentialPaths,
  credentialToIssuer,
  exportPrivateKeyPem,
  generateKeyPair,
  type Issuer,
  issueCertificate,
  loadCredential,
  writeCredential,
} from '../pki/index.ts';
import type { CaRegistry } from './cas.ts';

export const EST_CA_NAME = 'est-ca';
/**
 * Edge CAs come from a root of their own, never registered as a device CA: an Edge CA may sign
 * leaves, and under a verified device CA those would authenticate at the hub as any device.
 */
export const EST_EDGE_ROOT_NAME = 'est-edge-root';
/** The name the EST CA is registered under in the hub's CA registry. */
export const EST_CA_REGISTRY_NAME = 'gatehouse-est-ca';
const EST_CA_DAYS = 3650;

/**
 * One of the hub's EST CAs: a root kept in DATA/tls/NAME.{cert,key}.pem (key 0600), created on first
 * start. Default: the identity CA `est-ca` ("Gatehouse Hub EST CA").
 */
export async function ensureEstCa(o: {
  readonly dataDir: string;
  readonly logger: Logger;
  readonly now?: Date;
  readonly name?: string;
  readonly commonName?: string;
}): Promise<Issuer> {
  const name = o.name ?? EST_CA_NAME;
  const dir = join(o.dataDir, 'tls');
  const now = o.now ?? new Date();
  let cred: Credential;
  if (existsSync(credentialPaths(dir, name).cert)) {
    cred = await loadCredential(dir, name);
    if (!cred.cert.isCa || now.getTime() > cred.cert.notAfter) {
      throw new GatehouseError(
        'GH_ERR_ISSUER',
        `the hub ${name} in ${dir} is expired or not a CA; remove ${credentialPaths(dir, name).cert} and its key to create a new one`,
      );
    }
  } else {
    const keys = await generateKeyPair('ec-p256');
    const cert = await issueCertificate({
      profile: 'root',
      commonName: o.commonName ?? 'Gatehouse Hub EST CA',
      subjectKeys: keys,
      days: EST_CA_DAYS,
      now,
    });
    cred = { cert, chain: [cert], keyPem: await exportPrivateKeyPem(keys.privateKey) };
    await writeCredential(dir, name, cred, true);
    o.logger.info({ path: credentialPaths(dir, name).cert }, `created the hub ${name}`);
  }
  return credentialToIssuer(cred, `hub ${name}`);
}

/**
 * Uploads the EST CA to the hub's CA registry and verifies it by proof of possession (the hub holds
 * the key, so it signs its own verification certificate): devices registered with
 * `certificateAuthority` authentication then accept the identity certificates it issues, as for any
 * verified CA. Done on the first issuance, so a hub that never uses EST lists no extra CA.
 */
export async function registerEstCaVerified(cas: CaRegistry, issuer: Issuer, now: Date): Promise<void> {
  const existing = cas.list().find((c) => c.thumbprint === issuer.cert.sha256);
  if (existing?.verified) return;
  const name = existing?.name ?? EST_CA_REGISTRY_NAME;
  const code = existing ? undefined : cas.upload(name, issuer.cert.pem, now.getTime()).verificationCode;
  if (code === undefined) {
    // Uploaded earlier but never verified (a crash in between): the code is not readable back, so
    // the operator verifies it like any other CA. Rare enough not to automate.
    return;
  }
  const proof = await issueCertificate({
    profile: 'verification',
    commonName: code,
    subjectKeys: await generateKeyPair('ec-p256'),
    issuer,
    days: 1,
    now,
  });
  cas.verify(name, proof.pem, now.getTime());
}
