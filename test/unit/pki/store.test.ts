import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import {
  type Credential,
  credentialPaths,
  loadCredential,
  loadCredentialFiles,
  MAX_PEM_FILE_BYTES,
  writeCredential,
  writeCredentials,
  writeFilesAtomic,
} from '../../../src/pki/index.ts';
import { makeTempDir, makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';

const T0 = new Date(Date.UTC(2026, 0, 15, 12, 0, 0));

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (err: unknown) => (isGatehouseError(err) ? err.code : `not a GatehouseError: ${String(err)}`),
  );
}

const asCred = (c: TestCred, chain = [c.cert]): Credential => ({ cert: c.cert, chain, keyPem: c.keyPem });

let pki: TestPki;
let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  pki = await makeTestPki({ now: T0 });
});
beforeEach(async () => {
  tmp = await makeTempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

describe('writeCredential', () => {
  it('writes NAME.{cert,key,chain}.pem, the key mode 0600, and nothing else', async () => {
    const cred = asCred(pki.edgeCa, [pki.edgeCa.cert, pki.intermediate.cert]);
    const paths = await writeCredential(tmp.dir, 'edge-ca-x', cred);
    expect(paths).toEqual(credentialPaths(tmp.dir, 'edge-ca-x'));
    expect((await stat(paths.key)).mode & 0o777).toBe(0o600);
    expect((await stat(paths.cert)).mode & 0o077).not.toBe(0);
    expect(await readFile(paths.cert, 'utf8')).toBe(pki.edgeCa.cert.pem);
    expect(await readFile(paths.chain, 'utf8')).toBe(pki.edgeCa.cert.pem + pki.intermediate.cert.pem);
    expect((await readdir(tmp.dir)).sort()).toEqual([
      'edge-ca-x.cert.pem',
      'edge-ca-x.chain.pem',
      'edge-ca-x.key.pem',
    ]);
  });

  it('refuses to overwrite without force and leaves the files as they were; force overwrites', async () => {
    await writeCredential(tmp.dir, 'dev', asCred(pki.root));
    expect(await codeOf(writeCredential(tmp.dir, 'dev', asCred(pki.intermediate)))).toBe(
      'GH_ERR_FILE_EXISTS',
    );
    expect(await readFile(join(tmp.dir, 'dev.cert.pem'), 'utf8')).toBe(pki.root.cert.pem);
    await writeCredential(tmp.dir, 'dev', asCred(pki.intermediate), true);
    expect(await readFile(join(tmp.dir, 'dev.cert.pem'), 'utf8')).toBe(pki.intermediate.cert.pem);
    expect((await stat(join(tmp.dir, 'dev.key.pem'))).mode & 0o777).toBe(0o600);
  });

  it('refuses a whole set when any one of its files exists', async () => {
    await writeFile(join(tmp.dir, 'b.chain.pem'), 'x');
    const sets = [
      { name: 'a', cred: asCred(pki.root) },
      { name: 'b', cred: asCred(pki.intermediate) },
    ];
    expect(await codeOf(writeCredentials(tmp.dir, sets))).toBe('GH_ERR_FILE_EXISTS');
    expect(await readdir(tmp.dir)).toEqual(['b.chain.pem']);
  });

  it('a failure while staging leaves no file and no temp file behind', async () => {
    await writeFile(join(tmp.dir, 'not-a-dir'), 'x');
    const files = [
      { path: join(tmp.dir, 'first.pem'), data: 'one' },
      { path: join(tmp.dir, 'not-a-dir', 'second.pem'), data: 'two' },
    ];
    expect(await codeOf(writeFilesAtomic(files))).toBe('GH_ERR_STORE');
    expect(await readdir(tmp.dir)).toEqual(['not-a-dir']);
  });

  it('refuses names that would leave the directory', () => {
    for (const name of ['../x', 'a/b', '', '.hidden', 'a..b', 'x'.repeat(200)]) {
      expect(() => credentialPaths(tmp.dir, name)).toThrow(/cannot be used in a file name/);
    }
  });
});

describe('loadCredential', () => {
  it('loads cert, key and chain', async () => {
    await writeCredential(tmp.dir, 'dev', asCred(pki.edgeCa, [pki.edgeCa.cert, pki.intermediate.cert]));
    const cred = await loadCredential(tmp.dir, 'dev');
    expect(cred.cert.sha256).toBe(pki.edgeCa.cert.sha256);
    expect(cred.chain.map((c) => c.sha256)).toEqual([pki.edgeCa.cert.sha256, pki.intermediate.cert.sha256]);
  });

  it('refuses a key that does not match the certificate', async () => {
    await writeCredential(tmp.dir, 'dev', asCred(pki.root));
    await writeFile(join(tmp.dir, 'dev.key.pem'), pki.intermediate.keyPem);
    expect(await codeOf(loadCredential(tmp.dir, 'dev'))).toBe('GH_ERR_KEY_MISMATCH');
  });

  it('refuses a chain file that does not start with the certificate', async () => {
    await writeCredential(tmp.dir, 'dev', asCred(pki.root));
    await writeFile(join(tmp.dir, 'dev.chain.pem'), pki.intermediate.cert.pem);
    expect(await codeOf(loadCredential(tmp.dir, 'dev'))).toBe('GH_ERR_CHAIN');
  });

  it('missing, malformed and oversized files each get their code', async () => {
    expect(await codeOf(loadCredential(tmp.dir, 'nothing'))).toBe('GH_ERR_FILE_MISSING');
    await writeCredential(tmp.dir, 'dev', asCred(pki.root));
    await writeFile(join(tmp.dir, 'dev.cert.pem'), 'not pem');
    expect(await codeOf(loadCredential(tmp.dir, 'dev'))).toBe('GH_ERR_PEM');
    await writeFile(join(tmp.dir, 'big.pem'), Buffer.alloc(MAX_PEM_FILE_BYTES + 1, 0x41));
    expect(await codeOf(loadCredentialFiles(join(tmp.dir, 'big.pem'), 'k', 'big'))).toBe('GH_ERR_PEM');
    expect(await codeOf(loadCredentialFiles(tmp.dir, 'k', 'a directory'))).toBe('GH_ERR_FILE_MISSING');
    await writeCredential(tmp.dir, 'nokey', asCred(pki.root));
    await writeFile(join(tmp.dir, 'nokey.key.pem'), '');
    expect(await codeOf(loadCredential(tmp.dir, 'nokey'))).toBe('GH_ERR_PEM');
  });
});
