import { copyFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import {
  type CertInfo,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  parseCertificatePem,
  parseCertificatesPem,
  validateChain,
} from '../../../src/pki/index.ts';
import { makeTempDir } from '../../helpers/pki.ts';

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

async function run(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'gatehouse', 'certs', ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out, err };
}

/** A refusal: exit 2, exactly one stderr line naming the code, and the directory untouched. */
async function expectRefused(dir: string, args: string[], code: string, message?: RegExp): Promise<void> {
  const before = await listing(dir);
  const r = await run(...args);
  expect({ code: r.code, lines: r.err.length }).toEqual({ code: 2, lines: 1 });
  expect(r.err[0]).toMatch(new RegExp(`^gatehouse: .+ \\[${code}\\]$`));
  if (message) expect(r.err[0]).toMatch(message);
  expect(await listing(dir)).toEqual(before);
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

const certIn = async (dir: string, file: string): Promise<CertInfo> =>
  parseCertificatePem(await readFile(join(dir, file), 'utf8'));
const chainIn = async (dir: string, file: string): Promise<CertInfo[]> =>
  parseCertificatesPem(await readFile(join(dir, file), 'utf8'));
const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

let tmp: { dir: string; cleanup: () => Promise<void> };
let dir: string;
beforeAll(async () => {
  tmp = await makeTempDir('gatehouse-cli-certs-');
  dir = join(tmp.dir, 'certs');
});
afterAll(async () => {
  await tmp.cleanup();
});

/** Verifies a stored credential's chain to the directory's root for a purpose, as a TLS peer would. */
async function verifies(name: string, purpose?: string): Promise<boolean> {
  const chain = await chainIn(dir, `${name}.chain.pem`);
  const root = await certIn(dir, 'root-ca.cert.pem');
  const leaf = chain[0] as CertInfo;
  return validateChain({ leaf, intermediates: chain.slice(1), anchors: [root], at: Date.now(), purpose }).ok;
}

// The tests of this file build on each other in order: one PKI directory, made up step by step.
describe('gatehouse certs', () => {
  it('refuses to issue anything before a root exists', async () => {
    await expectRefused(
      tmp.dir,
      ['create-device', '--device-id', 'd1', '--dir', dir],
      'GH_ERR_ISSUER',
      /create-root/,
    );
  });

  it('create-root --intermediate writes both CAs, keys mode 0600', async () => {
    const r = await run('create-root', '--intermediate', '--dir', dir);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out.filter((l) => l.startsWith('created '))).toHaveLength(2);
    expect(await listing(dir)).toEqual(
      ['intermediate-ca', 'root-ca']
        .flatMap((n) => [`${n}.cert.pem`, `${n}.chain.pem`, `${n}.key.pem`])
        .sort(),
    );
    for (const n of ['root-ca', 'intermediate-ca']) expect(await mode(join(dir, `${n}.key.pem`))).toBe(0o600);
    const root = await certIn(dir, 'root-ca.cert.pem');
    const inter = await certIn(dir, 'intermediate-ca.cert.pem');
    expect(root.selfIssued && root.isCa).toBe(true);
    expect(inter.issuer).toBe(root.subject);
    expect(inter.pathLen).toBe(1);
    expect((await chainIn(dir, 'intermediate-ca.chain.pem')).map((c) => c.sha256)).toEqual([inter.sha256]);
  });

  it('create-root refuses to overwrite, and --force replaces the CAs', async () => {
    const before = await certIn(dir, 'root-ca.cert.pem');
    await expectRefused(dir, ['create-root', '--dir', dir], 'GH_ERR_FILE_EXISTS', /--force/);
    expect((await certIn(dir, 'root-ca.cert.pem')).sha256).toBe(before.sha256);
    const r = await run('create-root', '--intermediate', '--force', '--dir', dir);
    expect(r.code).toBe(0);
    expect((await certIn(dir, 'root-ca.cert.pem')).sha256).not.toBe(before.sha256);
    expect(await verifies('intermediate-ca')).toBe(true);
  });

  it('create-edge-ca issues a pathLen 0 CA under the intermediate; refuses NAME = hostname', async () => {
    const r = await run('create-edge-ca', '--name', 'edge1', '--hostname', 'gw.local', '--dir', dir);
    expect(r.code).toBe(0);
    const edge = await certIn(dir, 'edge-ca-edge1.cert.pem');
    expect(edge.subjectCn).toBe('edge1');
    expect(edge.isCa && edge.pathLen === 0 && edge.keyUsage?.has('keyCertSign')).toBe(true);
    expect(edge.issuerCn).toBe('Gatehouse Intermediate CA');
    expect((await chainIn(dir, 'edge-ca-edge1.chain.pem')).map((c) => c.subjectCn)).toEqual([
      'edge1',
      'Gatehouse Intermediate CA',
    ]);
    expect(await verifies('edge-ca-edge1')).toBe(true);
    await expectRefused(
      dir,
      ['create-edge-ca', '--name', 'gw.local', '--hostname', 'GW.LOCAL', '--dir', dir],
      'GH_ERR_PROFILE',
      /must differ/,
    );
  });

  it('create-identity: CA-signed (clientAuth, chain with intermediate) and --self-signed', async () => {
    expect((await run('create-identity', '--device-id', 'gw1', '--dir', dir)).code).toBe(0);
    const id = await certIn(dir, 'identity-gw1.cert.pem');
    expect(id.subjectCn).toBe('gw1');
    expect(id.extKeyUsage).toEqual([EKU_CLIENT_AUTH]);
    expect(await verifies('identity-gw1', EKU_CLIENT_AUTH)).toBe(true);
    expect((await run('create-identity', '--device-id', 'gw2', '--self-signed', '--dir', dir)).code).toBe(0);
    expect((await certIn(dir, 'identity-gw2.cert.pem')).selfIssued).toBe(true);
  });

  it('create-device: RSA with --days, self-signed, and under a chosen CA', async () => {
    const r = await run(
      'create-device',
      '--device-id',
      'sensor-1',
      '--key-type',
      'rsa-2048',
      '--days',
      '10',
      '--dir',
      dir,
    );
    expect(r.code).toBe(0);
    const dev = await certIn(dir, 'device-sensor-1.cert.pem');
    expect(dev.keyAlgorithm).toBe('rsa');
    expect(Math.abs(dev.notAfter - (Date.now() + 10 * 86_400_000))).toBeLessThan(120_000);
    expect(await verifies('device-sensor-1', EKU_CLIENT_AUTH)).toBe(true);
    expect(await mode(join(dir, 'device-sensor-1.key.pem'))).toBe(0o600);
    expect((await run('create-device', '--device-id', 'sensor-2', '--self-signed', '--dir', dir)).code).toBe(
      0,
    );
    const self = await certIn(dir, 'device-sensor-2.cert.pem');
    expect(self.selfIssued && self.native.verify(self.publicKey)).toBe(true);
    expect((await run('create-device', '--device-id', 'sensor-3', '--ca', 'root', '--dir', dir)).code).toBe(
      0,
    );
    expect((await certIn(dir, 'device-sensor-3.cert.pem')).issuerCn).toBe('Gatehouse Root CA');
    expect((await chainIn(dir, 'device-sensor-3.chain.pem')).length).toBe(1);
  });

  it('create-verification: CN = code, signed by the named CA (default intermediate)', async () => {
    expect((await run('create-verification', '--code', 'A1B2C3D4E5', '--dir', dir)).code).toBe(0);
    const v = await certIn(dir, 'verification-A1B2C3D4E5.cert.pem');
    const inter = await certIn(dir, 'intermediate-ca.cert.pem');
    expect(v.subjectCn).toBe('A1B2C3D4E5');
    expect(v.native.verify(inter.publicKey)).toBe(true);
    expect(
      (await run('create-verification', '--code', 'F00D', '--ca', 'edge-ca-edge1', '--dir', dir)).code,
    ).toBe(0);
    const edge = await certIn(dir, 'edge-ca-edge1.cert.pem');
    expect((await certIn(dir, 'verification-F00D.cert.pem')).native.verify(edge.publicKey)).toBe(true);
    await expectRefused(
      dir,
      ['create-verification', '--code', 'X1', '--ca', 'nosuch', '--dir', dir],
      'GH_ERR_ISSUER',
    );
    await expectRefused(
      dir,
      ['create-verification', '--code', 'X2', '--ca', 'device-sensor-1', '--dir', dir],
      'GH_ERR_ISSUER',
      /not a CA/,
    );
  });

  it('create-server: CN = hostname, IP and DNS SANs, serverAuth, chain up to the intermediate', async () => {
    const r = await run(
      'create-server',
      '--hostname',
      '127.0.0.1',
      '--edge-ca',
      'edge1',
      '--san',
      'localhost',
      '--dir',
      dir,
    );
    expect(r.code).toBe(0);
    const s = await certIn(dir, 'server-127.0.0.1.cert.pem');
    expect(s.subjectCn).toBe('127.0.0.1');
    expect(s.ipAddresses).toEqual(['127.0.0.1']);
    expect(s.dnsNames).toEqual(['localhost']);
    expect((await chainIn(dir, 'server-127.0.0.1.chain.pem')).length).toBe(3);
    expect(await verifies('server-127.0.0.1', EKU_SERVER_AUTH)).toBe(true);
    expect(await verifies('server-127.0.0.1', EKU_CLIENT_AUTH)).toBe(false);
  });

  it('create-server for an IPv6 address: IP SAN, files named with `_` for `:`', async () => {
    const r = await run('create-server', '--hostname', 'fd00::1', '--edge-ca', 'edge1', '--dir', dir);
    expect(r.code).toBe(0);
    const s = await certIn(dir, 'server-fd00__1.cert.pem');
    expect(s.subjectCn).toBe('fd00::1');
    expect(s.ipAddresses.map((ip) => ip.toLowerCase())).toEqual(['fd00::1']);
    expect(await verifies('server-fd00__1', EKU_SERVER_AUTH)).toBe(true);
  });

  it('thumbprint prints the IoT Hub form (SHA-256, or SHA-1), by path or by name, and JSON', async () => {
    const dev = await certIn(dir, 'device-sensor-2.cert.pem');
    const byPath = await run('thumbprint', join(dir, 'device-sensor-2.cert.pem'));
    expect(byPath).toEqual({ code: 0, out: [dev.sha256], err: [] });
    expect((await run('thumbprint', 'device-sensor-2', '--sha1', '--dir', dir)).out).toEqual([dev.sha1]);
    const json = JSON.parse(
      (await run('thumbprint', 'device-sensor-2.chain.pem', '--json', '--dir', dir)).out[0] ?? '',
    );
    expect(json).toEqual({ algorithm: 'sha256', thumbprint: dev.sha256, openssl: dev.native.fingerprint256 });
  });

  it('inspect shows every certificate of a file, as text or JSON', async () => {
    const text = await run('inspect', 'server-127.0.0.1.chain.pem', '--dir', dir);
    expect(text.code).toBe(0);
    expect(text.out).toContain('certificate 3 of 3');
    expect(text.out.find((l) => l.startsWith('SANs:'))).toMatch(
      /DNS:localhost, IP:127\.0\.0\.1|IP:127\.0\.0\.1/,
    );
    expect(text.out.filter((l) => /^CA:\s+yes, pathLen 0$/.test(l))).toHaveLength(1);
    const json = JSON.parse((await run('inspect', 'root-ca', '--json', '--dir', dir)).out.join('\n'));
    const root = await certIn(dir, 'root-ca.cert.pem');
    expect(json.certificates).toHaveLength(1);
    expect(json.certificates[0]).toMatchObject({
      subject: root.subject,
      isCa: true,
      selfSigned: true,
      status: 'valid',
      thumbprints: { sha256: root.sha256, sha1: root.sha1 },
    });
  });

  it('export-p12 writes a 0600 file, prints a generated password once, refuses to overwrite', async () => {
    const out = join(tmp.dir, 'gw1.pfx');
    const r = await run('export-p12', '--name', 'identity-gw1', '--out', out, '--dir', dir);
    expect(r.code).toBe(0);
    expect(r.out[1]).toMatch(/^password: [A-Za-z0-9_-]{24}$/);
    expect(await mode(out)).toBe(0o600);
    await expectRefused(
      tmp.dir,
      ['export-p12', '--name', 'identity-gw1', '--out', out, '--dir', dir],
      'GH_ERR_FILE_EXISTS',
    );
    const forced = await run(
      'export-p12',
      '--name',
      'identity-gw1',
      '--out',
      out,
      '--password',
      'pw',
      '--force',
      '--dir',
      dir,
    );
    expect(forced.code).toBe(0);
    expect(forced.out.some((l) => l.startsWith('password'))).toBe(false);
  });

  it('refuses bad input with one stderr line, exit 2 and no file written', async () => {
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'x', '--days', '0', '--dir', dir],
      'GH_ERR_USAGE',
      /--days/,
    );
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'x', '--days', 'abc', '--dir', dir],
      'GH_ERR_USAGE',
    );
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'x', '--days', '1.5', '--dir', dir],
      'GH_ERR_USAGE',
    );
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'x', '--days', '36501', '--dir', dir],
      'GH_ERR_USAGE',
    );
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'x', '--key-type', 'dsa', '--dir', dir],
      'GH_ERR_USAGE',
    );
    await expectRefused(dir, ['create-device', '--device-id', 'bad/id', '--dir', dir], 'GH_ERR_INPUT');
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'a:b', '--dir', dir],
      'GH_ERR_INPUT',
      /file name/,
    );
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'x', '--self-signed', '--ca', 'root', '--dir', dir],
      'GH_ERR_USAGE',
    );
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'sensor-2', '--dir', dir],
      'GH_ERR_FILE_EXISTS',
    );
    await expectRefused(dir, ['inspect', 'nosuch.pem', '--dir', dir], 'GH_ERR_FILE_MISSING');
    await writeFile(
      join(tmp.dir, 'bad.pem'),
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    );
    await expectRefused(dir, ['thumbprint', join(tmp.dir, 'bad.pem')], 'GH_ERR_PEM');
  });

  it('commander usage errors (missing option, unknown option) exit 2 with one line', async () => {
    for (const args of [
      ['create-device', '--dir', dir],
      ['create-root', '--bogus', '--dir', dir],
    ]) {
      const r = await run(...args);
      expect({ code: r.code, lines: r.err.length }).toEqual({ code: 2, lines: 1 });
    }
  });

  it('refuses an issuer whose key does not match, or that does not chain to the root', async () => {
    const inter = join(dir, 'intermediate-ca.key.pem');
    const saved = await readFile(inter, 'utf8');
    await copyFile(join(dir, 'edge-ca-edge1.key.pem'), inter);
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'mismatch', '--dir', dir],
      'GH_ERR_KEY_MISMATCH',
    );
    await writeFile(inter, saved, { mode: 0o600 });
    const rootCert = join(dir, 'root-ca.cert.pem');
    const savedRoot = await readFile(rootCert, 'utf8');
    await copyFile(join(dir, 'device-sensor-2.cert.pem'), rootCert);
    await expectRefused(
      dir,
      ['create-device', '--device-id', 'orphan', '--dir', dir],
      'GH_ERR_CHAIN',
      /unknown-issuer/,
    );
    await writeFile(rootCert, savedRoot);
    expect((await run('create-device', '--device-id', 'after-repair', '--dir', dir)).code).toBe(0);
  });

  it('--help exits 0 and lists the subcommands', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    const help = r.out.join('\n');
    for (const c of [
      'create-root',
      'create-edge-ca',
      'create-identity',
      'create-device',
      'create-verification',
      'thumbprint',
      'inspect',
      'export-p12',
    ]) {
      expect(help).toContain(c);
    }
  });
});
