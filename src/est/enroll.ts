import { KeyObject } from 'node:crypto';
import type { EstConfig } from '../config/types.ts';
import { GatehouseError } from '../errors.ts';
import {
  type CertInfo,
  type Credential,
  exportPrivateKeyPem,
  type KeyPair,
  readTextFile,
} from '../pki/index.ts';
import { createEstClient, type EstClient, type EstClientAuth } from './client.ts';
import { createCsr } from './csr.ts';
import { checkEnrollResponse } from './response.ts';

/** An EST client for `[cert_issuance.est]`: its URL, verified against `trusted_certs`. */
export async function estClientFromConfig(est: EstConfig): Promise<EstClient> {
  const pems = await Promise.all(
    est.trustedCerts.map((p) => readTextFile(p, '[cert_issuance.est] trusted_certs')),
  );
  return createEstClient({ url: est.url, trustPem: pems.join('\n') });
}

export interface EnrollRequest {
  readonly client: EstClient;
  readonly op: 'simpleenroll' | 'simplereenroll';
  /** CA label (`edge-ca`), or none for the default CA. */
  readonly label?: string;
  /** The TLS client certificate the request is authenticated with. */
  readonly auth: EstClientAuth;
  /** The key pair the certificate is requested for. */
  readonly keys: KeyPair;
  readonly commonName: string;
  readonly profile: 'client' | 'edge-ca';
  readonly now: number;
}

/**
 * One enrollment round trip: cacerts, CSR, enroll, then checkEnrollResponse. Resolves only a checked
 * credential (nothing is written here); a refused answer is a GatehouseError with `details.reason`.
 */
export async function enrollOverEst(r: EnrollRequest): Promise<{ cred: Credential; anchor: CertInfo }> {
  const caCerts = await r.client.caCerts(r.label);
  const csr = await createCsr(r.keys, r.commonName);
  const res = await r.client.enroll(r.op, csr, r.auth, r.label);
  const check = checkEnrollResponse(res, {
    publicKey: KeyObject.from(r.keys.publicKey),
    commonName: r.commonName,
    profile: r.profile,
    caCerts,
    now: r.now,
  });
  if (!check.ok) {
    const code = res.status === 401 || res.status === 403 ? 'GH_ERR_UNAUTHORIZED' : 'GH_ERR_PROTOCOL';
    throw new GatehouseError(code, `EST ${r.op} refused: ${check.detail}`, {
      details: { reason: check.reason },
    });
  }
  return {
    cred: { cert: check.cert, chain: check.chain, keyPem: await exportPrivateKeyPem(r.keys.privateKey) },
    anchor: check.anchor,
  };
}
