import { existsSync } from 'node:fs';
import type { LifetimePoint } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import {
  type CertInfo,
  type Credential,
  credentialPaths,
  exportPrivateKeyPem,
  generateKeyPair,
  issueCertificate,
  loadCredential,
  validateChain,
  writeCredentials,
} from '../pki/index.ts';
import type { EdgeCa } from './edge-ca.ts';
import { isRenewalDue } from './lifetime.ts';

export const SERVER_CERT = 'server';

/** The certificate the device listener presents. */
export interface ServerCredential {
  readonly cert: CertInfo;
  readonly keyPem: string;
  /** Leaf + Edge CA + the Edge CA's intermediates (no root), PEM. */
  readonly chainPem: string;
  /** True when it was issued by this call, false when the stored one was reused. */
  readonly issued: boolean;
}

export interface ServerCertOptions {
  readonly dir: string;
  readonly hostname: string;
  readonly edgeCa: EdgeCa;
  /** `server_cert_days` (never beyond the Edge CA: issuance clamps it). */
  readonly days: number;
  readonly threshold: LifetimePoint;
  readonly now: number;
  readonly log: Logger;
  /** Issue a new one even when the stored one is fine. */
  readonly force?: boolean;
}

/**
 * Reuses the stored server certificate while it is for this hostname, issued by the current Edge CA
 * and not past its renewal threshold; otherwise issues a new one (new key) and stores it.
 */
export async function ensureServerCertificate(opts: ServerCertOptions): Promise<ServerCredential> {
  const stored = opts.force ? undefined : await loadReusable(opts);
  if (stored) return toServerCredential(stored, opts.edgeCa, false);
  const keys = await generateKeyPair('ec-p256');
  const cert = await issueCertificate({
    profile: 'server',
    commonName: opts.hostname,
    subjectKeys: keys,
    issuer: opts.edgeCa.issuer,
    days: opts.days,
    now: new Date(opts.now),
  });
  const cred: Credential = {
    cert,
    chain: [cert, ...opts.edgeCa.chain],
    keyPem: await exportPrivateKeyPem(keys.privateKey),
  };
  await writeCredentials(opts.dir, [{ name: SERVER_CERT, cred }], true);
  opts.log.info(
    { hostname: opts.hostname, serial: cert.serialHex, notAfter: new Date(cert.notAfter).toISOString() },
    'server certificate issued',
  );
  return toServerCredential(cred, opts.edgeCa, true);
}

async function loadReusable(opts: ServerCertOptions): Promise<Credential | undefined> {
  if (!existsSync(credentialPaths(opts.dir, SERVER_CERT).cert)) return undefined;
  let cred: Credential;
  try {
    cred = await loadCredential(opts.dir, SERVER_CERT);
  } catch (err) {
    opts.log.warn({ err: (err as Error).message }, 'stored server certificate unreadable; issuing a new one');
    return undefined;
  }
  const cert = cred.cert;
  const host = opts.hostname.toLowerCase();
  const names = [...cert.dnsNames, ...cert.ipAddresses].map((n) => n.toLowerCase());
  const fits =
    cert.subjectCn?.toLowerCase() === host &&
    names.includes(host) &&
    validateChain({ leaf: cert, anchors: [opts.edgeCa.issuer.cert], at: opts.now }).ok &&
    !isRenewalDue(cert, opts.threshold, opts.now);
  return fits ? cred : undefined;
}

function toServerCredential(cred: Credential, edgeCa: EdgeCa, issued: boolean): ServerCredential {
  const chain = [cred.cert, ...edgeCa.chain];
  return { cert: cred.cert, keyPem: cred.keyPem, chainPem: chain.map((c) => c.pem).join(''), issued };
}
