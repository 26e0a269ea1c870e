import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
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

/** One file of a set written together. */
export interface FileWrite {
  readonly path: string;
  readonly data: string | Buffer;
  /** Default 0o644; private keys pass 0o600. */
  readonly mode?: number;
}

/** PEM files are small; a larger one is a mistake or an attack, refused before it is read whole. */
export const MAX_PEM_FILE_BYTES = 1024 * 1024;

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

/** Refuses with GH_ERR_FILE_EXISTS naming the first path that exists, unless `force`. */
export function assertNoneExist(paths: readonly string[], force = false): void {
  if (force) return;
  const existing = paths.find((p) => existsSync(p));
  if (existing !== undefined) {
    throw new GatehouseError('GH_ERR_FILE_EXISTS', `${existing} exists (use --force to overwrite)`);
  }
}

/**
 * Writes a file so that readers see either the old or the whole new content: temp file in the same
 * directory, fsync, rename. Private keys pass mode 0o600.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await writeFilesAtomic([{ path, data, mode }]);
}

/**
 * Writes several files as one set: every file is staged (temp + fsync) before the first rename, so
 * a failure while writing leaves none of them behind and no existing file changed.
 */
export async function writeFilesAtomic(files: readonly FileWrite[]): Promise<void> {
  const staged: Array<{ tmp: string; path: string }> = [];
  try {
    for (const f of files) {
      await mkdir(dirname(f.path), { recursive: true });
      const tmp = `${f.path}.${randomBytes(6).toString('hex')}.tmp`;
      staged.push({ tmp, path: f.path });
      await writeNew(tmp, f.data, f.mode ?? 0o644);
    }
  } catch (err) {
    await Promise.all(staged.map((s) => unlink(s.tmp).catch(() => {})));
    throw new GatehouseError('GH_ERR_STORE', `cannot write ${staged.at(-1)?.path ?? 'files'}`, {
      cause: err,
    });
  }
  for (const [i, s] of staged.entries()) {
    try {
      await rename(s.tmp, s.path);
    } catch (err) {
      await Promise.all(staged.slice(i).map((r) => unlink(r.tmp).catch(() => {})));
      throw new GatehouseError('GH_ERR_STORE', `cannot write ${s.path}`, { cause: err });
    }
  }
}

async function writeNew(path: string, data: string | Buffer, mode: number): Promise<void> {
  // O_EXCL with the mode at creation: the key is never readable by others, not even for an instant.
  const fh = await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
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
  const [paths] = await writeCredentials(dir, [{ name, cred }], force);
  return paths as CredentialPaths;
}

/** Several credentials written as one set (a root and its intermediate): all of them or none. */
export async function writeCredentials(
  dir: string,
  sets: ReadonlyArray<{ readonly name: string; readonly cred: Credential }>,
  force = false,
): Promise<CredentialPaths[]> {
  const all = sets.map((s) => ({ paths: credentialPaths(dir, s.name), cred: s.cred }));
  assertNoneExist(
    all.flatMap(({ paths }) => [paths.cert, paths.key, paths.chain]),
    force,
  );
  await writeFilesAtomic(
    all.flatMap(({ paths, cred }) => [
      { path: paths.key, data: cred.keyPem, mode: 0o600 },
      { path: paths.cert, data: cred.cert.pem },
      { path: paths.chain, data: cred.chain.map((c) => c.pem).join('') },
    ]),
  );
  return all.map((a) => a.paths);
}

/** Reads a text file of at most `maxBytes`; one GH_ERR_FILE_MISSING (or GH_ERR_PEM when too large) line otherwise. */
export async function readTextFile(
  path: string,
  what: string,
  maxBytes = MAX_PEM_FILE_BYTES,
): Promise<string> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new GatehouseError('GH_ERR_FILE_MISSING', `${what}: cannot read ${path} (${code})`, { cause: err });
  }
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) throw new GatehouseError('GH_ERR_FILE_MISSING', `${what}: ${path} is not a file`);
    if (stat.size > maxBytes) {
      throw new GatehouseError('GH_ERR_PEM', `${what}: ${path} is larger than ${maxBytes} bytes`);
    }
    return await fh.readFile('utf8');
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new GatehouseError('GH_ERR_FILE_MISSING', `${what}: cannot read ${path} (${code})`, { cause: err });
  } finally {
    await fh.close();
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

/**
 * Loads a stored credential by name: the certificate, its key (refusing a mismatch) and the chain
 * file when present, which must start with that same certificate.
 */
export async function loadCredential(dir: string, name: string): Promise<Credential> {
  const paths = credentialPaths(dir, name);
  if (!existsSync(paths.cert)) {
    throw new GatehouseError(
      'GH_ERR_FILE_MISSING',
      `no certificate named "${name}" in ${dir} (${paths.cert})`,
    );
  }
  const cred = await loadCredentialFiles(paths.cert, paths.key, name);
  if (!existsSync(paths.chain)) return cred;
  const chain = parseCertificatesPem(await readTextFile(paths.chain, `${name} chain`), `${name} chain`);
  if (chain[0]?.sha256 !== cred.cert.sha256) {
    throw new GatehouseError('GH_ERR_CHAIN', `${paths.chain} does not start with ${paths.cert}`);
  }
  return { ...cred, chain };
}

export async function credentialToIssuer(cred: Credential, what: string): Promise<Issuer> {
  return { cert: cred.cert, keys: await importPrivateKeyPem(cred.keyPem, `${what} key`) };
}
