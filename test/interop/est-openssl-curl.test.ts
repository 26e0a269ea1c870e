import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubHandle, startHub } from '../../src/hub/index.ts';
import { parseCertificatesPem } from '../../src/pki/index.ts';
import { makeCred, makeTempDir, writeTestCred } from '../helpers/pki.ts';

// The hub's EST server with third-party clients: a CSR made by `openssl req`, posted by `curl` with
// mutual TLS, and the PKCS#7 answer read back by `openssl pkcs7` — RFC 7030 wire format both ways.

function run(cmd: string, args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code === 'string') return reject(new Error(`cannot run ${cmd}: ${err.message}`));
      resolve({ code: err ? Number(err.code ?? -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe('EST interop: openssl + curl against the mock hub', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let hub: HubHandle;
  let boot: { cert: string; key: string };

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('gatehouse-est-interop-'));
    hub = await startHub({ dataDir: join(dir, 'hub'), mqttPort: 0, apiPort: 0 });
    const bootstrap = await makeCred('self-signed-device', 'gw-curl', undefined);
    boot = await writeTestCred(dir, 'boot', bootstrap);
    await hub.admin.addDevice({
      deviceId: 'gw-curl',
      edge: true,
      auth: { type: 'selfSigned', primaryThumbprint: bootstrap.cert.sha256 },
    });
  });
  afterAll(async () => {
    await hub?.close();
    await cleanup?.();
  });

  const url = (op: string): string => `https://127.0.0.1:${hub.apiPort}/.well-known/est/${op}`;

  it('cacerts: curl fetches, openssl reads the certs-only PKCS#7', async () => {
    const b64 = join(dir, 'cacerts.b64');
    const get = await run('curl', ['-sS', '--fail', '--cacert', hub.rootCaPath, '-o', b64, url('cacerts')]);
    expect(get.code, get.out).toBe(0);
    await writeFile(join(dir, 'cacerts.der'), Buffer.from(await readFile(b64, 'utf8'), 'base64'));
    const read = await run('openssl', [
      'pkcs7',
      '-inform',
      'DER',
      '-in',
      join(dir, 'cacerts.der'),
      '-print_certs',
    ]);
    expect(read.code, read.out).toBe(0);
    expect(read.out).toMatch(/subject=.*Gatehouse Hub EST CA/);
  });

  it('simpleenroll: an openssl CSR posted by curl with the bootstrap certificate yields a certificate for that key', async () => {
    const key = join(dir, 'id.key.pem');
    const csrDer = join(dir, 'id.csr.der');
    const req = await run('openssl', [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-subj',
      '/CN=gw-curl',
      '-outform',
      'DER',
      '-out',
      csrDer,
    ]);
    expect(req.code, req.out).toBe(0);
    const csrB64 = join(dir, 'id.csr.b64');
    await writeFile(csrB64, (await readFile(csrDer)).toString('base64'));
    const out = join(dir, 'issued.b64');
    const post = await run('curl', [
      '-sS',
      '--fail',
      '--cacert',
      hub.rootCaPath,
      '--cert',
      boot.cert,
      '--key',
      boot.key,
      '-H',
      'Content-Type: application/pkcs10',
      '--data-binary',
      `@${csrB64}`,
      '-o',
      out,
      url('simpleenroll'),
    ]);
    expect(post.code, post.out).toBe(0);
    await writeFile(join(dir, 'issued.der'), Buffer.from(await readFile(out, 'utf8'), 'base64'));
    const read = await run('openssl', [
      'pkcs7',
      '-inform',
      'DER',
      '-in',
      join(dir, 'issued.der'),
      '-print_certs',
    ]);
    expect(read.code, read.out).toBe(0);
    const [cert] = parseCertificatesPem(read.out);
    expect(cert?.subjectCn).toBe('gw-curl');
    const match = await run('openssl', ['pkey', '-in', key, '-pubout']);
    expect(cert?.publicKey.export({ type: 'spki', format: 'pem' })).toBe(match.out);
  });

  it('simpleenroll without a client certificate: curl gets 401', async () => {
    const post = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--cacert',
      hub.rootCaPath,
      '-H',
      'Content-Type: application/pkcs10',
      '--data-binary',
      'AAAA',
      url('simpleenroll'),
    ]);
    expect(post.out).toBe('401');
  });
});
