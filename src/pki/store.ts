import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GatehouseError } from '../errors.ts';
import { type CertInfo, parseCertificatesPem } from './certificate.ts';
import type { Issuer } from './issue.ts';
import { assertKeyMatchesCertificate, importPrivateKeyPem } from './keys.ts';

/** A certificate with its key and the chain a TLS peer should send (leaf + issuing intermediates). */
export interface Credential {
  readonly cert: CertInfo;
  /** Leaf first, then intermediates up to (not including) the root. */
  readonly chain: readonly CertInfo[];
  readonly keyPem: string;
}

export interface CredentialPaths {
  readonly cert: string;
  readonly key: string;
  readonly chain: string;
}

/** The stable file names documented in certs/README.md: `NAME.cert.pem`, `NAME.key.pem`, `NAME.chain.pem`. */
export function credentialPaths(dir: string, name: string): CredentialPaths {
  assertFileName(name);
  return {
    cert: join(dir, `${name}.cert.pem`),
    key: join(dir, `${name}.key.pem`),
    chain: join(dir, `${name}.chain.pem`),
  };
}

export function assertFileName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name) || name.includes('..')) {
    throw new GatehouseError(
      'GH_ERR_INPUT',
      `"${name}" cannot be used in a file name (letters, digits, . _ - only)`,
    );
  }
}

/**
 * Writes a file so that readers see either the old or the whole new content: temp file in the same
 * directory, fsync, rename. Private keys pass mode 0o600.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
}

/**
 * Writes cert, key and chain as one set: refuses before writing anything when a target exists and
 * `force` is off, so a refused command leaves no half-written set behind.
 */
export async function writeCredential(
  dir: string,
  name: string,
  cred: Credential,
  force = false,
): Promise<CredentialPaths> {
  const paths = credentialPaths(dir, name);
  if (!force) {
    const existing = [paths.cert, paths.key, paths.chain].filter((p) => existsSync(p));
    if (existing.length > 0) {
      throw new GatehouseError('GH_ERR_FILE_EXISTS', `${existing[0]} exists (use --force to overwrite)`);
    }
  }
  await writeFileAtomic(paths.key, cred.keyPem, 0o600);
  await writeFileAtomic(paths.cert, cred.cert.pem);
  await writeFileAtomic(paths.chain, cred.chain.map((c) => c.pem).join(''));
  return paths;
}

export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new GatehouseError('GH_ERR_FILE_MISSING', `${what}: cannot read ${path} (${code})`, { cause: err });
  }
}

/** Loads a certificate (with chain, when the file holds one) and its key, refusing a mismatched pair. */
export async function loadCredentialFiles(
  certPath: string,
  keyPath: string,
  what: string,
): Promise<Credential> {
  const chain = parseCertificatesPem(
    await readTextFile(certPath, `${what} certificate`),
    `${what} certificate`,
  );
  const keyPem = await readTextFile(keyPath, `${what} key`);
  const cert = chain[0] as CertInfo;
  assertKeyMatchesCertificate(keyPem, cert, what);
  return { cert, chain, keyPem };
}

/** Loads a stored credential by name, preferring the chain file so intermediates come along. */
export async function loadCredential(dir: string, name: string): Promise<Credential> {
  const paths = credentialPaths(dir, name);
  if (!existsSync(paths.cert)) {
    throw new GatehouseError(
      'GH_ERR_FILE_MISSING',
      `no certificate named "${name}" in ${dir} (${paths.cert})`,
    );
  }
  return loadCredentialFiles(existsSync(paths.chain) ? paths.chain : paths.cert, paths.key, name);
}

export async function credentialToIssuer(cred: Credential, what: string): Promise<Issuer> {
  return { cert: cred.cert, keys: await importPrivateKeyPem(cred.keyPem, `${what} key`) };
}
