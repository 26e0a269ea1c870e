import { existsSync } from 'node:fs';
import { GatehouseError } from '../errors.ts';
import { isDeviceId } from '../registry/device.ts';
import { type CertInfo, parseCertificatePem } from './certificate.ts';
import { type Issuer, issueCertificate } from './issue.ts';
import { exportPrivateKeyPem, generateKeyPair, type KeyType } from './keys.ts';
import { assertCommonName, type ProfileName } from './profiles.ts';
import {
  assertNoneExist,
  type Credential,
  type CredentialPaths,
  credentialPaths,
  credentialToIssuer,
  loadCredential,
  readTextFile,
  writeCredentials,
} from './store.ts';
import { validateChain } from './validate.ts';

/**
 * A PKI kept as PEM files in one directory, under the stable names of certs/README.md. These are
 * the plain functions behind `gatehouse certs …`; the demo and tests call them directly.
 */
export const ROOT_CA = 'root-ca';
export const INTERMEDIATE_CA = 'intermediate-ca';
export const ROOT_CA_CN = 'Gatehouse Root CA';
export const INTERMEDIATE_CA_CN = 'Gatehouse Intermediate CA';

export const credentialName = {
  edgeCa: (name: string): string => `edge-ca-${name}`,
  identity: (deviceId: string): string => `identity-${deviceId}`,
  device: (deviceId: string): string => `device-${deviceId}`,
  verification: (code: string): string => `verification-${code}`,
  // File names allow letters, digits, `.`, `_`, `-`: an IPv6 address's `:` is written as `_` (no DNS
  // host name has a `:`, so the mapping is unambiguous): fd00::1 → server-fd00__1.
  server: (hostname: string): string => `server-${hostname.replaceAll(':', '_')}`,
} as const;

/** Lifetimes used when `days` is not given; a leaf is cut to its issuer's end in any case. */
export const DEFAULT_DAYS = {
  root: 3650,
  intermediate: 1825,
  // IoT Edge's quickstart Edge CA default (auto_generated_edge_ca_expiry_days).
  edgeCa: 90,
  identity: 365,
  device: 365,
  server: 90,
  verification: 30,
} as const;

export interface PkiDirOptions {
  /** The directory holding the PKI's files; created when missing. */
  readonly dir: string;
  /** Type of every new key. Default `ec-p256`. */
  readonly keyType?: KeyType;
  /** Lifetime in days, 1–36500. Default: DEFAULT_DAYS for the kind of certificate. */
  readonly days?: number;
  /** Overwrite existing files. Default false: refuse with GH_ERR_FILE_EXISTS before writing anything. */
  readonly force?: boolean;
  /** Issuance instant. Default: now. */
  readonly now?: Date;
}

export interface CreatedCredential {
  readonly name: string;
  readonly paths: CredentialPaths;
  readonly cert: CertInfo;
  /** Leaf + issuing intermediates, as written to NAME.chain.pem. */
  readonly chain: readonly CertInfo[];
}

/** A CA loaded from the directory, checked to chain to the root, ready to sign. */
export interface LoadedCa {
  readonly name: string;
  readonly issuer: Issuer;
  /** The CA and its intermediates up to (not including) the root. */
  readonly chain: readonly CertInfo[];
}

export async function createRootCa(
  opts: PkiDirOptions & { readonly intermediate?: boolean },
): Promise<{ root: CreatedCredential; intermediate?: CreatedCredential }> {
  const names = opts.intermediate ? [ROOT_CA, INTERMEDIATE_CA] : [ROOT_CA];
  refuseExisting(opts, names);
  const root = await issue(opts, { profile: 'root', commonName: ROOT_CA_CN, days: DEFAULT_DAYS.root });
  const rootCa: LoadedCa = { name: ROOT_CA, issuer: root.issuer, chain: [] };
  const sets = [{ name: ROOT_CA, cred: root.cred }];
  const inter = opts.intermediate
    ? await issue(opts, {
        profile: 'intermediate',
        commonName: INTERMEDIATE_CA_CN,
        days: DEFAULT_DAYS.intermediate,
        ca: rootCa,
      })
    : undefined;
  if (inter) sets.push({ name: INTERMEDIATE_CA, cred: inter.cred });
  // Root and intermediate are written as one set: a failure leaves neither.
  const [rootPaths, interPaths] = await writeCredentials(opts.dir, sets, opts.force);
  const created = (name: string, paths: CredentialPaths | undefined, cred: Credential) => ({
    name,
    paths: paths as CredentialPaths,
    cert: cred.cert,
    chain: cred.chain,
  });
  return {
    root: created(ROOT_CA, rootPaths, root.cred),
    ...(inter ? { intermediate: created(INTERMEDIATE_CA, interPaths, inter.cred) } : {}),
  };
}

/** An Edge CA (CA:TRUE, pathLen 0) under the intermediate when present, else the root. */
export async function createEdgeCa(
  opts: PkiDirOptions & { readonly name: string; readonly hostname?: string },
): Promise<CreatedCredential> {
  assertCommonName(opts.name, 'Edge CA name');
  return issueAndStore(opts, credentialName.edgeCa(opts.name), {
    profile: 'edge-ca',
    commonName: opts.name,
    days: DEFAULT_DAYS.edgeCa,
    caName: undefined,
    ...(opts.hostname !== undefined ? { gatewayHostname: opts.hostname } : {}),
  });
}

export interface DeviceCertOptions extends PkiDirOptions {
  readonly deviceId: string;
  /** Self-signed (thumbprint authentication) instead of CA-signed. Default false. */
  readonly selfSigned?: boolean;
  /** Issuing CA's credential name. Default: intermediate when present, else root. */
  readonly ca?: string;
}

/** A gateway's (or device's) identity certificate: CN = device id, clientAuth. */
export async function createIdentity(opts: DeviceCertOptions): Promise<CreatedCredential> {
  return createDeviceLike(
    opts,
    credentialName.identity(assertDeviceId(opts.deviceId)),
    DEFAULT_DAYS.identity,
  );
}

/** A downstream device certificate: CA-signed (CA authentication) or self-signed (thumbprint). */
export async function createDevice(opts: DeviceCertOptions): Promise<CreatedCredential> {
  return createDeviceLike(opts, credentialName.device(assertDeviceId(opts.deviceId)), DEFAULT_DAYS.device);
}

/** Proof of possession: a leaf whose CN is the hub's verification code, signed by the CA's key. */
export async function createVerification(
  opts: PkiDirOptions & { readonly code: string; readonly ca?: string },
): Promise<CreatedCredential> {
  assertCommonName(opts.code, 'verification code');
  return issueAndStore(opts, credentialName.verification(opts.code), {
    profile: 'verification',
    commonName: opts.code,
    days: DEFAULT_DAYS.verification,
    caName: opts.ca,
  });
}

/** A TLS server certificate for `hostname` (CN and SAN) issued by the named Edge CA. */
export async function createServer(
  opts: PkiDirOptions & {
    readonly hostname: string;
    readonly edgeCa: string;
    readonly extraNames?: readonly string[];
  },
): Promise<CreatedCredential> {
  return issueAndStore(opts, credentialName.server(opts.hostname), {
    profile: 'server',
    commonName: opts.hostname,
    days: DEFAULT_DAYS.server,
    caName: credentialName.edgeCa(opts.edgeCa),
    ...(opts.extraNames ? { extraNames: opts.extraNames } : {}),
  });
}

/**
 * Loads a CA by credential name (`root` and `intermediate` are accepted for root-ca and
 * intermediate-ca; default: intermediate when present, else root) and checks that it may sign and
 * chains to the directory's root at `now`, so nothing is ever issued under a broken or foreign CA.
 */
export async function loadCa(dir: string, name: string | undefined, now: Date): Promise<LoadedCa> {
  const resolved = resolveCaName(dir, name);
  const cred = await loadCredential(dir, resolved);
  const cert = cred.cert;
  if (!cert.isCa || (cert.keyUsage && !cert.keyUsage.has('keyCertSign'))) {
    throw new GatehouseError('GH_ERR_ISSUER', `"${resolved}" is not a CA that may sign certificates`);
  }
  const rootPath = credentialPaths(dir, ROOT_CA).cert;
  const anchors = existsSync(rootPath)
    ? [parseCertificatePem(await readTextFile(rootPath, 'root CA'), 'root CA certificate')]
    : [];
  if (cert.selfIssued && !anchors.some((a) => a.sha256 === cert.sha256)) anchors.push(cert);
  const result = validateChain({
    leaf: cert,
    intermediates: cred.chain.slice(1),
    anchors,
    at: now.getTime(),
  });
  if (!result.ok) {
    throw new GatehouseError(
      'GH_ERR_CHAIN',
      `CA "${resolved}" is unusable: ${result.detail} (${result.reason})`,
    );
  }
  const chain = result.path.filter((c) => !c.selfIssued);
  return { name: resolved, issuer: await credentialToIssuer(cred, resolved), chain };
}

function resolveCaName(dir: string, name: string | undefined): string {
  const exists = (n: string) => existsSync(credentialPaths(dir, n).cert);
  if (name === undefined) {
    if (exists(INTERMEDIATE_CA)) return INTERMEDIATE_CA;
    if (exists(ROOT_CA)) return ROOT_CA;
    throw new GatehouseError('GH_ERR_ISSUER', `no CA in ${dir}: run "gatehouse certs create-root" first`);
  }
  const alias = name === 'root' ? ROOT_CA : name === 'intermediate' ? INTERMEDIATE_CA : name;
  if (!exists(alias)) throw new GatehouseError('GH_ERR_ISSUER', `no CA named "${name}" in ${dir}`);
  return alias;
}

interface IssueSpec {
  readonly profile: ProfileName;
  readonly commonName: string;
  readonly days: number;
  readonly ca?: LoadedCa;
  readonly extraNames?: readonly string[];
  readonly gatewayHostname?: string;
}

async function createDeviceLike(
  opts: DeviceCertOptions,
  name: string,
  defaultDays: number,
): Promise<CreatedCredential> {
  if (opts.selfSigned && opts.ca !== undefined) {
    throw new GatehouseError('GH_ERR_USAGE', 'a self-signed certificate takes no issuing CA');
  }
  return issueAndStore(opts, name, {
    profile: opts.selfSigned ? 'self-signed-device' : 'client',
    commonName: opts.deviceId,
    days: defaultDays,
    caName: opts.ca,
  });
}

/** The common pipeline: refuse early, load and check the issuer, make the key, issue, write. */
async function issueAndStore(
  opts: PkiDirOptions,
  name: string,
  spec: Omit<IssueSpec, 'ca'> & { readonly caName: string | undefined },
): Promise<CreatedCredential> {
  refuseExisting(opts, [name]);
  const selfSigned = spec.profile === 'root' || spec.profile === 'self-signed-device';
  const ca = selfSigned ? undefined : await loadCa(opts.dir, spec.caName, opts.now ?? new Date());
  const { cred } = await issue(opts, { ...spec, ...(ca ? { ca } : {}) });
  const [paths] = await writeCredentials(opts.dir, [{ name, cred }], opts.force);
  return { name, paths: paths as CredentialPaths, cert: cred.cert, chain: cred.chain };
}

async function issue(opts: PkiDirOptions, spec: IssueSpec): Promise<{ cred: Credential; issuer: Issuer }> {
  const keys = await generateKeyPair(opts.keyType ?? 'ec-p256');
  const cert = await issueCertificate({
    profile: spec.profile,
    commonName: spec.commonName,
    subjectKeys: keys,
    ...(spec.ca ? { issuer: spec.ca.issuer } : {}),
    days: opts.days ?? spec.days,
    now: opts.now ?? new Date(),
    ...(spec.extraNames ? { extraNames: spec.extraNames } : {}),
    ...(spec.gatewayHostname !== undefined ? { gatewayHostname: spec.gatewayHostname } : {}),
  });
  const keyPem = await exportPrivateKeyPem(keys.privateKey);
  const chain = spec.profile === 'root' ? [cert] : [cert, ...(spec.ca?.chain ?? [])];
  return { cred: { cert, chain, keyPem }, issuer: { cert, keys } };
}

function refuseExisting(opts: PkiDirOptions, names: readonly string[]): void {
  assertNoneExist(
    names.flatMap((n) => {
      const p = credentialPaths(opts.dir, n);
      return [p.cert, p.key, p.chain];
    }),
    opts.force,
  );
}

function assertDeviceId(id: string): string {
  if (!isDeviceId(id)) {
    throw new GatehouseError(
      'GH_ERR_INPUT',
      `"${id}" is not a valid device id (1–128 letters, digits and - . % _ * ? ! ( ) , : = @ $ ')`,
    );
  }
  return id;
}
