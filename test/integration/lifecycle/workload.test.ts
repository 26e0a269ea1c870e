import { stat } from 'node:fs/promises';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import { createGateway, type Gateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/logger.ts';
import { keyMatchesCertificate, parseCertificatesPem, validateChain } from '../../../src/pki/index.ts';
import { makeTempDir, makeTestPki, type TestPki, writeTestCred } from '../../helpers/pki.ts';
import { FakeForwarder, FakeRegistry } from '../../unit/broker/fakes.ts';
import { standaloneGatewayToml } from './helpers.ts';

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

function call(
  socketPath: string,
  method: string,
  path: string,
  body?: string,
  contentType = 'application/json',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers: body === undefined ? {} : { 'content-type': contentType } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const CERT_PATH = '/modules/web/genid/637466/certificate/server?api-version=2019-01-30';
const inDays = (d: number): string => new Date(Date.now() + d * 86_400_000).toISOString();

describe('workload API for modules', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let pki: TestPki;
  let gw: Gateway;
  let socket: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('gh-wl-'));
    pki = await makeTestPki();
    const edge = await writeTestCred(dir, 'edge-ca', pki.edgeCa);
    const upstreamRoot = await writeTestCred(dir, 'upstream-root', pki.root);
    const text = standaloneGatewayToml({
      dataDir: join(dir, 'data'),
      edgeCa: edge,
      trustBundle: upstreamRoot.cert,
      extra: '[gateway.workload]\nenabled = true\nallowed_names = ["*.local", "sensor-*"]\ncert_days = 7\n',
    });
    gw = await createGateway({
      config: parseConfig(text, dir),
      logger: silentLogger(),
      registry: new FakeRegistry(),
      forwarder: new FakeForwarder(),
    });
    socket = gw.workloadSocket ?? '';
  });
  afterAll(async () => {
    await gw?.close();
    await cleanup?.();
  });

  it('listens on DATA/workload.sock with mode 0660', async () => {
    expect(socket).toBe(join(dir, 'data', 'workload.sock'));
    const info = await stat(socket);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o660);
  });

  it('issues an Edge CA server certificate with a server-made key; a TLS client trusting /trust-bundle accepts it', async () => {
    const res = await call(
      socket,
      'POST',
      CERT_PATH,
      JSON.stringify({ commonName: 'web.local', expiration: inDays(2), subjectAltNames: ['sensor-1'] }),
    );
    expect(res.status).toBe(201);
    const chain = parseCertificatesPem(String(res.body.certificate));
    const leaf = chain[0];
    const keyPem = String((res.body.privateKey as { bytes: string }).bytes);
    expect(leaf?.subjectCn).toBe('web.local');
    expect(leaf?.dnsNames).toEqual(['web.local', 'sensor-1']);
    expect(keyMatchesCertificate(keyPem, leaf!)).toBe(true);
    expect(leaf!.notAfter - Date.now()).toBeLessThanOrEqual(2 * 86_400_000 + 60_000);
    expect(res.body.expiration).toBe(new Date(leaf!.notAfter).toISOString());
    expect(
      validateChain({ leaf: leaf!, intermediates: chain.slice(1), anchors: [pki.root.cert], at: Date.now() })
        .ok,
    ).toBe(true);

    const bundle = await call(socket, 'GET', '/trust-bundle?api-version=2019-01-30');
    expect(bundle.status).toBe(200);
    const trust = String(bundle.body.certificate);
    expect(parseCertificatesPem(trust).map((c) => c.sha256)).toContain(pki.root.cert.sha256);

    const server = createTlsServer({ key: keyPem, cert: String(res.body.certificate) }, (s) => s.end('hi'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const s = tlsConnect(
          {
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            ca: trust,
            servername: 'web.local',
          },
          () => {
            s.once('data', (d: Buffer) => {
              resolve(d.toString());
              s.end();
            });
          },
        );
        s.on('error', reject);
      });
      expect(text).toBe('hi');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('caps the lifetime at cert_days', async () => {
    const res = await call(
      socket,
      'POST',
      CERT_PATH,
      JSON.stringify({ commonName: 'long.local', expiration: inDays(365) }),
    );
    expect(res.status).toBe(201);
    const [leaf] = parseCertificatesPem(String(res.body.certificate));
    expect(leaf!.notAfter - Date.now()).toBeLessThanOrEqual(7 * 86_400_000 + 60_000);
  });

  it.each([
    [
      'a CN outside allowed_names',
      { commonName: 'hub.example.com', expiration: inDays(1) },
      403,
      'name-not-allowed',
    ],
    [
      'a SAN outside allowed_names',
      { commonName: 'web.local', expiration: inDays(1), subjectAltNames: ['10.0.0.1'] },
      403,
      'name-not-allowed',
    ],
    ['a wildcard name', { commonName: '*.local', expiration: inDays(1) }, 400, 'bad-name'],
    [
      'an expiration in the past',
      { commonName: 'web.local', expiration: inDays(-1) },
      400,
      'expiration-in-past',
    ],
    [
      'an unknown field',
      { commonName: 'web.local', expiration: inDays(1), isCa: true },
      400,
      'malformed-body',
    ],
    ['a missing commonName', { expiration: inDays(1) }, 400, 'malformed-body'],
  ])('refuses %s', async (_what, body, status, reason) => {
    const res = await call(socket, 'POST', CERT_PATH, JSON.stringify(body));
    expect(res.status).toBe(status);
    expect(res.body.reason).toBe(reason);
    expect(res.body.certificate).toBeUndefined();
  });

  it('refuses malformed requests: bad JSON, wrong content type, wrong method, unknown route', async () => {
    expect((await call(socket, 'POST', CERT_PATH, '{"commonName":')).status).toBe(400);
    expect((await call(socket, 'POST', CERT_PATH, 'commonName=web.local', 'text/plain')).status).toBe(415);
    expect((await call(socket, 'GET', CERT_PATH)).status).toBe(405);
    expect((await call(socket, 'POST', '/modules/../genid/1/certificate/server', '{}')).status).toBe(404);
    expect((await call(socket, 'POST', '/modules/web/genid/1/certificate/identity', '{}')).status).toBe(404);
  });
});
