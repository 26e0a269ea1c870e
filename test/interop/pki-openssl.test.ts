import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import {
  type CertInfo,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  type KeyType,
  keyMatchesCertificate,
  normalizeThumbprint,
  parseCertificatePem,
  validateChain,
} from '../../src/pki/index.ts';
import { type BrokenChain, makeBrokenChains } from '../helpers/broken-chains.ts';
import { makeTempDir } from '../helpers/pki.ts';

// Proves the PKI against the real `openssl` binary: what the CLI makes, openssl accepts; what
// validateChain refuses, openssl refuses too; thumbprints and PKCS#12 files agree.

interface Proc {
  readonly code: number;
  readonly out: string;
}

function openssl(args: readonly string[]): Promise<Proc> {
  return new Promise((resolve, reject) => {
    execFile('openssl', [...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (err && typeof err.code === 'string') return reject(new Error(`cannot run openssl: ${err.message}`));
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

async function gatehouse(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'gatehouse', 'certs', ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out, err };
}

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await makeTempDir('gatehouse-pki-openssl-');
  const version = await openssl(['version']);
  expect(version.out).toMatch(/^OpenSSL 3\./);
});
afterAll(async () => {
  await tmp.cleanup();
});

/** name → openssl verify flags beyond -CAfile/-untrusted. */
const MADE: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['intermediate-ca', []],
  ['edge-ca-edge1', []],
  ['server-gw.example.test', ['-purpose', 'sslserver', '-verify_hostname', 'gw.example.test']],
  ['server-127.0.0.1', ['-purpose', 'sslserver', '-verify_ip', '127.0.0.1']],
  ['identity-gw1', ['-purpose', 'sslclient']],
  ['device-sensor-ca', ['-purpose', 'sslclient']],
  ['device-sensor-root', ['-purpose', 'sslclient']],
  ['verification-0A1B2C3D4E5F', ['-purpose', 'sslclient']],
];
const SELF_SIGNED = ['identity-gw2', 'device-sensor-thumb'];

describe.each<KeyType>(['ec-p256', 'rsa-2048'])('certificates made by `gatehouse certs` (%s)', (keyType) => {
  let dir: string;
  beforeAll(async () => {
    dir = join(tmp.dir, keyType);
    const common = ['--dir', dir, '--key-type', keyType];
    const steps: string[][] = [
      ['create-root', '--intermediate'],
      ['create-edge-ca', '--name', 'edge1', '--hostname', 'gw.example.test'],
      ['create-server', '--hostname', 'gw.example.test', '--edge-ca', 'edge1', '--san', '10.0.0.2'],
      ['create-server', '--hostname', '127.0.0.1', '--edge-ca', 'edge1', '--san', 'localhost'],
      ['create-identity', '--device-id', 'gw1'],
      ['create-identity', '--device-id', 'gw2', '--self-signed'],
      ['create-device', '--device-id', 'sensor-ca'],
      ['create-device', '--device-id', 'sensor-root', '--ca', 'root'],
      ['create-device', '--device-id', 'sensor-thumb', '--self-signed'],
      ['create-verification', '--code', '0A1B2C3D4E5F', '--ca', 'root'],
    ];
    for (const step of steps) {
      const r = await gatehouse(...step, ...common);
      expect(r.err, step.join(' ')).toEqual([]);
      expect(r.code, step.join(' ')).toBe(0);
    }
  }, 60_000);

  it.each(MADE)('openssl verify -x509_strict accepts %s', async (name, flags) => {
    const r = await openssl([
      'verify',
      '-x509_strict',
      '-CAfile',
      join(dir, 'root-ca.cert.pem'),
      '-untrusted',
      join(dir, `${name}.chain.pem`),
      ...flags,
      join(dir, `${name}.cert.pem`),
    ]);
    expect(r.out).toContain(`${name}.cert.pem: OK`);
    expect(r.code).toBe(0);
  });

  it.each(SELF_SIGNED)(
    'openssl verify accepts self-signed %s trusted as itself, for sslclient',
    async (name) => {
      const file = join(dir, `${name}.cert.pem`);
      const r = await openssl(['verify', '-x509_strict', '-CAfile', file, '-purpose', 'sslclient', file]);
      expect(r.code).toBe(0);
    },
  );

  it('openssl refuses the server certificate for another hostname and for client use', async () => {
    const base = ['verify', '-CAfile', join(dir, 'root-ca.cert.pem'), '-untrusted'];
    const chain = join(dir, 'server-gw.example.test.chain.pem');
    const leaf = join(dir, 'server-gw.example.test.cert.pem');
    const wrongHost = await openssl([...base, chain, '-verify_hostname', 'other.example.test', leaf]);
    expect(wrongHost.code).not.toBe(0);
    expect(wrongHost.out).toMatch(/hostname mismatch/);
    const asClient = await openssl([...base, chain, '-purpose', 'sslclient', leaf]);
    expect(asClient.code).not.toBe(0);
    expect(asClient.out).toMatch(/unsu(pported|itable) certificate purpose/);
  });

  it('openssl x509 -fingerprint agrees with `gatehouse certs thumbprint`, SHA-256 and SHA-1', async () => {
    for (const name of ['root-ca', 'identity-gw1', 'device-sensor-thumb', 'server-127.0.0.1']) {
      const file = join(dir, `${name}.cert.pem`);
      for (const alg of ['sha256', 'sha1'] as const) {
        const o = await openssl(['x509', '-noout', '-fingerprint', `-${alg}`, '-in', file]);
        const opensslForm = o.out.trim().split('=')[1] ?? '';
        const ours = await gatehouse('thumbprint', file, ...(alg === 'sha1' ? ['--sha1'] : []));
        expect(ours.out).toHaveLength(1);
        expect(normalizeThumbprint(opensslForm)).toBe(ours.out[0]);
        const json = JSON.parse(
          (await gatehouse('thumbprint', file, '--json', ...(alg === 'sha1' ? ['--sha1'] : []))).out[0] ?? '',
        );
        expect(json.openssl).toBe(opensslForm);
      }
    }
  });

  it('export-p12 opens with `openssl pkcs12 -info -nodes` and holds the matching key and chain', async () => {
    const pfx = join(tmp.dir, `identity-gw1-${keyType}.pfx`);
    const made = await gatehouse(
      'export-p12',
      '--name',
      'identity-gw1',
      '--out',
      pfx,
      '--password',
      's3cret pw!',
      '--dir',
      dir,
    );
    expect(made.code).toBe(0);
    const info = await openssl(['pkcs12', '-info', '-nodes', '-in', pfx, '-passin', 'pass:s3cret pw!']);
    expect(info.code).toBe(0);
    expect(info.out).toMatch(/MAC: sha256/);
    expect(info.out).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
    expect(info.out.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    const keyPem = info.out.slice(info.out.indexOf('-----BEGIN PRIVATE KEY-----'));
    const cert = parseCertificatePem(await readFile(join(dir, 'identity-gw1.cert.pem'), 'utf8'));
    expect(keyMatchesCertificate(keyPem, cert)).toBe(true);
    const wrong = await openssl(['pkcs12', '-info', '-nodes', '-in', pfx, '-passin', 'pass:wrong']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toMatch(/mac verify failure|invalid password/i);
  });
});

describe.each<KeyType>(['ec-p256', 'rsa-2048'])('the broken-chain table (%s)', (keyType) => {
  let cases: readonly BrokenChain[];
  let good: Awaited<ReturnType<typeof makeBrokenChains>>['good'];
  beforeAll(async () => {
    const set = await makeBrokenChains(keyType, new Date(Date.UTC(2026, 0, 15, 12, 0, 0)));
    cases = set.cases;
    good = set.good;
  }, 60_000);

  async function opensslVerify(
    c: Omit<BrokenChain, 'name' | 'expected' | 'openssl'>,
    tag: string,
  ): Promise<Proc> {
    const base = join(tmp.dir, `${keyType}-${tag.replace(/[^a-z0-9]+/gi, '-')}`);
    const pem = (certs: readonly CertInfo[]) => certs.map((x) => x.pem).join('');
    await writeFile(`${base}.anchors.pem`, pem(c.anchors));
    await writeFile(`${base}.leaf.pem`, c.leaf.pem);
    const args = ['verify', '-CAfile', `${base}.anchors.pem`, '-attime', String(Math.floor(c.at / 1000))];
    if (c.intermediates.length > 0) {
      await writeFile(`${base}.untrusted.pem`, pem(c.intermediates));
      args.push('-untrusted', `${base}.untrusted.pem`);
    }
    if (c.purpose) args.push('-purpose', c.purpose === EKU_SERVER_AUTH ? 'sslserver' : 'sslclient');
    return openssl([...args, `${base}.leaf.pem`]);
  }

  it('openssl accepts the good control chain (so the refusals below are about the breakage)', async () => {
    expect(good.purpose).toBe(EKU_CLIENT_AUTH);
    const r = await opensslVerify(good, 'good');
    expect(r.out).toMatch(/: OK/);
    expect(r.code).toBe(0);
  });

  it('every broken chain is refused by validateChain and by openssl, each for its reason', async () => {
    const got: Array<{ name: string; ours: string; openssl: string }> = [];
    for (const c of cases) {
      const ours = validateChain(c);
      const r = await opensslVerify(c, c.name);
      got.push({
        name: c.name,
        ours: ours.ok ? 'accepted' : ours.reason,
        openssl:
          r.code !== 0 && c.openssl.test(r.out) ? 'refused as expected' : `code ${r.code}: ${r.out.trim()}`,
      });
    }
    expect(got).toEqual(
      cases.map((c) => ({ name: c.name, ours: c.expected, openssl: 'refused as expected' })),
    );
  });
});
