import { GatehouseError } from '../errors.ts';
import type { CertInfo } from './certificate.ts';
import type { KeyType } from './keys.ts';
import {
  type CreatedCredential,
  createDevice,
  createEdgeCa,
  createIdentity,
  createRootCa,
  credentialName,
  INTERMEDIATE_CA,
  ROOT_CA,
} from './pki-dir.ts';
import { type CredentialPaths, credentialPaths, loadCredential } from './store.ts';
import { validateChain } from './validate.ts';

export interface DemoPkiOptions {
  /** Key type of every key made. Default `ec-p256`. A stored set of another type is replaced. */
  readonly keyType?: KeyType;
  /** Edge CA name (its CN and `edge-ca-NAME.*`). Default `gatehouse-edge-ca`. */
  readonly edgeCaName?: string;
  /** Gateway hostname the Edge CA name must differ from. Default: not checked. */
  readonly hostname?: string;
  /** Gateway device ids that get an identity certificate. Default `['gatehouse-gateway']`. */
  readonly identities?: readonly string[];
  /** Downstream devices with CA-signed certificates (CA authentication). Default `['sensor-ca-01']`. */
  readonly caDevices?: readonly string[];
  /** Downstream devices with self-signed certificates (thumbprint authentication). Default `['sensor-thumb-01']`. */
  readonly selfSignedDevices?: readonly string[];
  /** The instant to check and issue at. Default: now. */
  readonly now?: Date;
}

export interface DemoCredential {
  readonly name: string;
  readonly paths: CredentialPaths;
  readonly sha256: string;
  readonly sha1: string;
}

export interface DemoPki {
  readonly dir: string;
  readonly root: DemoCredential;
  readonly intermediate: DemoCredential;
  readonly edgeCa: DemoCredential;
  /** By device id. */
  readonly identities: Readonly<Record<string, DemoCredential>>;
  /** By device id, CA-signed and self-signed together. */
  readonly devices: Readonly<Record<string, DemoCredential & { readonly selfSigned: boolean }>>;
  /** Credential names made by this call; empty when everything on disk was reused. */
  readonly created: readonly string[];
}

/** A stored credential is reused only while it stays valid this much longer. */
const RENEW_MARGIN_MS = 86_400_000;

/**
 * Makes the demo's whole PKI in `dir` — root, intermediate, Edge CA, gateway identities, devices —
 * reusing every credential already there that still loads, matches its key, chains to the root and
 * is valid for another day. Anything else is made anew, and so is everything under a new CA.
 */
export async function ensureDemoPki(dir: string, opts: DemoPkiOptions = {}): Promise<DemoPki> {
  const keyType = opts.keyType ?? 'ec-p256';
  const now = opts.now ?? new Date();
  const base = { dir, keyType, now, force: true };
  const created: string[] = [];

  let root = await reusable(dir, ROOT_CA, keyType, now, undefined);
  let intermediate = root ? await reusable(dir, INTERMEDIATE_CA, keyType, now, root) : undefined;
  if (!root || !intermediate) {
    const made = await createRootCa({ ...base, intermediate: true });
    root = made.root.cert;
    intermediate = (made.intermediate as CreatedCredential).cert;
    created.push(ROOT_CA, INTERMEDIATE_CA);
  }
  const anchor = root;
  // Once the CAs are new, everything below them must be too: the old certificates chain to the old keys.
  // Self-signed devices do not, but the demo makes its whole set in one generation all the same.
  const renewAll = created.length > 0;
  const ensure = async (
    name: string,
    selfSigned: boolean,
    make: () => Promise<CreatedCredential>,
  ): Promise<DemoCredential> => {
    const cert = renewAll
      ? undefined
      : await reusable(dir, name, keyType, now, selfSigned ? undefined : anchor);
    const final = cert ?? (await make()).cert;
    if (!cert) created.push(name);
    return { name, paths: credentialPaths(dir, name), sha256: final.sha256, sha1: final.sha1 };
  };

  const edgeCaName = opts.edgeCaName ?? 'gatehouse-edge-ca';
  const edgeCa = await ensure(credentialName.edgeCa(edgeCaName), false, () =>
    createEdgeCa({ ...base, name: edgeCaName, ...(opts.hostname ? { hostname: opts.hostname } : {}) }),
  );

  const identities: Record<string, DemoCredential> = {};
  for (const id of opts.identities ?? ['gatehouse-gateway']) {
    identities[id] = await ensure(credentialName.identity(id), false, () =>
      createIdentity({ ...base, deviceId: id }),
    );
  }
  const devices: Record<string, DemoCredential & { selfSigned: boolean }> = {};
  for (const [ids, selfSigned] of [
    [opts.caDevices ?? ['sensor-ca-01'], false],
    [opts.selfSignedDevices ?? ['sensor-thumb-01'], true],
  ] as const) {
    for (const id of ids) {
      if (devices[id]) throw new GatehouseError('GH_ERR_INPUT', `device "${id}" is listed twice`);
      const made = await ensure(credentialName.device(id), selfSigned, () =>
        createDevice({ ...base, deviceId: id, selfSigned }),
      );
      devices[id] = { ...made, selfSigned };
    }
  }
  const describe = (name: string, cert: CertInfo): DemoCredential => ({
    name,
    paths: credentialPaths(dir, name),
    sha256: cert.sha256,
    sha1: cert.sha1,
  });
  return {
    dir,
    root: describe(ROOT_CA, root),
    intermediate: describe(INTERMEDIATE_CA, intermediate),
    edgeCa,
    identities,
    devices,
    created,
  };
}

/**
 * The stored certificate when it can be used as is: readable, key matching, of the wanted key type,
 * chaining to `anchor` (itself when undefined, for the root) and valid for RENEW_MARGIN_MS more.
 */
async function reusable(
  dir: string,
  name: string,
  keyType: KeyType,
  now: Date,
  anchor: CertInfo | undefined,
): Promise<CertInfo | undefined> {
  let cert: CertInfo;
  let chain: readonly CertInfo[];
  try {
    ({ cert, chain } = await loadCredential(dir, name));
  } catch {
    return undefined;
  }
  if (cert.keyAlgorithm !== (keyType === 'ec-p256' ? 'ec-p256' : 'rsa')) return undefined;
  const anchors = [anchor ?? cert];
  for (const at of [now.getTime(), now.getTime() + RENEW_MARGIN_MS]) {
    if (!validateChain({ leaf: cert, intermediates: chain.slice(1), anchors, at }).ok) return undefined;
  }
  return cert;
}
