import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AutoRenewConfig } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import {
  type CertInfo,
  type Credential,
  credentialPaths,
  credentialToIssuer,
  exportPrivateKeyPem,
  generateKeyPair,
  type Issuer,
  importPrivateKeyPem,
  issueCertificate,
  type KeyPair,
  loadCredential,
  validateChain,
  writeCredentials,
} from '../pki/index.ts';
import { isRenewalDue } from './lifetime.ts';

export const QUICKSTART_ROOT = 'quickstart-root';
export const QUICKSTART_EDGE_CA = 'quickstart-edge-ca';
export const QUICKSTART_ROOT_CN = 'Gatehouse quickstart root';
export const QUICKSTART_EDGE_CA_CN = 'Gatehouse quickstart Edge CA';

/** The root outlives several Edge CA renewals, so devices keep trusting the same root. */
export const quickstartRootDays = (edgeCaDays: number): number =>
  Math.min(36_500, Math.max(365, edgeCaDays * 4));

export interface QuickstartOptions {
  /** Folder for the quickstart files (inside the data directory). */
  readonly dir: string;
  /** `auto_generated_edge_ca_expiry_days`. */
  readonly days: number;
  readonly autoRenew: AutoRenewConfig;
  readonly now: number;
  readonly log: Logger;
}

export interface Quickstart {
  readonly edgeCa: Credential;
  readonly issuer: Issuer;
  readonly root: CertInfo;
  /** The file devices must trust. */
  readonly rootPath: string;
}

/**
 * The quickstart Edge CA: a root ("Gatehouse quickstart root") and an Edge CA under it, generated on
 * first start and kept in the data directory (keys 0600). Reused while valid; the Edge CA is reissued
 * under the same root once past its renewal threshold; everything is regenerated only when the root
 * itself is unusable (devices must then be given the new root).
 */
export async function loadOrCreateQuickstart(opts: QuickstartOptions): Promise<Quickstart> {
  const rootPath = credentialPaths(opts.dir, QUICKSTART_ROOT).cert;
  const root = await loadUsableRoot(opts);
  if (!root) {
    opts.log.warn({ dir: opts.dir }, 'generating a new quickstart root and Edge CA');
    return createAll(opts, rootPath);
  }
  const edgeCa = await loadUsableEdgeCa(opts, root.cert);
  if (edgeCa)
    return {
      edgeCa,
      issuer: await credentialToIssuer(edgeCa, 'quickstart Edge CA'),
      root: root.cert,
      rootPath,
    };
  opts.log.info({ dir: opts.dir }, 'renewing the quickstart Edge CA under the existing quickstart root');
  const renewed = await issueEdgeCa(opts, await credentialToIssuer(root, 'quickstart root'));
  await writeCredentials(opts.dir, [{ name: QUICKSTART_EDGE_CA, cred: renewed.edgeCa }], true);
  return { ...renewed, root: root.cert, rootPath };
}

async function loadUsableRoot(opts: QuickstartOptions): Promise<Credential | undefined> {
  if (!existsSync(credentialPaths(opts.dir, QUICKSTART_ROOT).cert)) return undefined;
  try {
    const root = await loadCredential(opts.dir, QUICKSTART_ROOT);
    // The root must outlive a freshly issued Edge CA's first renewal point, or renewing is pointless.
    const usable =
      root.cert.isCa && root.cert.selfIssued && opts.now < root.cert.notAfter - opts.days * 86_400_000;
    if (!usable)
      opts.log.warn({ path: join(opts.dir, QUICKSTART_ROOT) }, 'quickstart root expired or expiring');
    return usable ? root : undefined;
  } catch (err) {
    opts.log.warn({ err: (err as Error).message }, 'quickstart root unreadable; replacing it');
    return undefined;
  }
}

async function loadUsableEdgeCa(opts: QuickstartOptions, root: CertInfo): Promise<Credential | undefined> {
  if (!existsSync(credentialPaths(opts.dir, QUICKSTART_EDGE_CA).cert)) return undefined;
  try {
    const cred = await loadCredential(opts.dir, QUICKSTART_EDGE_CA);
    const chained = validateChain({ leaf: cred.cert, anchors: [root], at: opts.now }).ok;
    if (chained && cred.cert.isCa && !isRenewalDue(cred.cert, opts.autoRenew.threshold, opts.now))
      return cred;
    return undefined;
  } catch (err) {
    opts.log.warn({ err: (err as Error).message }, 'quickstart Edge CA unreadable; replacing it');
    return undefined;
  }
}

async function createAll(opts: QuickstartOptions, rootPath: string): Promise<Quickstart> {
  const rootKeys = await generateKeyPair('ec-p256');
  const rootCert = await issueCertificate({
    profile: 'root',
    commonName: QUICKSTART_ROOT_CN,
    subjectKeys: rootKeys,
    days: quickstartRootDays(opts.days),
    now: new Date(opts.now),
  });
  const root: Credential = {
    cert: rootCert,
    chain: [rootCert],
    keyPem: await exportPrivateKeyPem(rootKeys.privateKey),
  };
  const issued = await issueEdgeCa(opts, { cert: rootCert, keys: rootKeys });
  await writeCredentials(
    opts.dir,
    [
      { name: QUICKSTART_ROOT, cred: root },
      { name: QUICKSTART_EDGE_CA, cred: issued.edgeCa },
    ],
    true,
  );
  return { ...issued, root: rootCert, rootPath };
}

async function issueEdgeCa(
  opts: QuickstartOptions,
  rootIssuer: Issuer,
): Promise<{ edgeCa: Credential; issuer: Issuer }> {
  const previous = opts.autoRenew.rotateKey ? undefined : await previousEdgeCaKey(opts);
  const keys = previous ?? (await generateKeyPair('ec-p256'));
  const cert = await issueCertificate({
    profile: 'edge-ca',
    commonName: QUICKSTART_EDGE_CA_CN,
    subjectKeys: keys,
    issuer: rootIssuer,
    days: opts.days,
    now: new Date(opts.now),
  });
  const edgeCa: Credential = { cert, chain: [cert], keyPem: await exportPrivateKeyPem(keys.privateKey) };
  return { edgeCa, issuer: { cert, keys } };
}

/** rotate_key = false: a renewed Edge CA keeps its key, when the old one is still readable. */
async function previousEdgeCaKey(opts: QuickstartOptions): Promise<KeyPair | undefined> {
  try {
    const old = await loadCredential(opts.dir, QUICKSTART_EDGE_CA);
    return await importPrivateKeyPem(old.keyPem, 'quickstart Edge CA key');
  } catch {
    return undefined;
  }
}
