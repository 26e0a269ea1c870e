import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EstConfig } from '../../../src/config/types.ts';
import { isGatehouseError } from '../../../src/errors.ts';
import { csrSubjectKeys, parseCsr } from '../../../src/est/csr.ts';
import { EstIdentityManager } from '../../../src/est/identity.ts';
import { encodeCertsOnly } from '../../../src/est/pkcs7.ts';
import { createLogger } from '../../../src/logger.ts';
import { type CertInfo, generateKeyPair, issueCertificate } from '../../../src/pki/index.ts';
import { makeCred, makeTempDir, type TestCred, writeTestCred } from '../../helpers/pki.ts';

type Mode = 'good' | 'wrong-content-type' | 'malformed' | 'other-key' | 'other-subject' | 'other-ca';
const MIME = 'application/pkcs7-mime; smime-type=certs-only';

/**
 * A misbehaving EST server: answers cacerts properly, and enrollments as `mode` says. The gateway
 * side must refuse every bad answer and keep its current identity (memory and files).
 */
describe('EST client refusing bad answers', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: Server;
  let ca: TestCred;
  let rogue: TestCred;
  let mode: Mode = 'good';
  const logs: Array<{ level: number; msg: string }> = [];
  let manager: EstIdentityManager;

  const issue = async (body: string): Promise<CertInfo> => {
    const csr = await parseCsr(body);
    const cn = mode === 'other-subject' ? 'someone-else' : (csr.commonName ?? '');
    const subjectKeys = mode === 'other-key' ? await generateKeyPair('ec-p256') : await csrSubjectKeys(csr);
    return issueCertificate({
      profile: 'client',
      commonName: cn,
      subjectKeys,
      issuer: mode === 'other-ca' ? rogue : ca,
      days: 30,
    });
  };

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('gatehouse-est-bad-'));
    const tlsRoot = await makeCred('root', 'Fake EST TLS Root', undefined);
    const tls = await makeCred('server', '127.0.0.1', tlsRoot);
    ca = await makeCred('root', 'Fake EST CA', undefined);
    rogue = await makeCred('root', 'Rogue CA', undefined);
    server = createServer(
      { key: tls.keyPem, cert: tls.chainPem, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (req.url?.endsWith('/cacerts')) {
            res.writeHead(200, { 'content-type': MIME }).end(encodeCertsOnly([ca.cert]));
            return;
          }
          if (mode === 'malformed') {
            res.writeHead(200, { 'content-type': MIME }).end('TUlJQm9ndXM=');
            return;
          }
          issue(Buffer.concat(chunks).toString('latin1')).then(
            (cert) => {
              const type = mode === 'wrong-content-type' ? 'application/pkix-cert' : MIME;
              res.writeHead(200, { 'content-type': type }).end(encodeCertsOnly([cert]));
            },
            () => res.writeHead(500).end(),
          );
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const trust = (await writeTestCred(dir, 'tls-root', tlsRoot)).cert;
    const boot = await makeCred('self-signed-device', 'gw-1', undefined);
    const bootPaths = await writeTestCred(dir, 'boot', boot);
    const est: EstConfig = {
      url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/est`,
      trustedCerts: [trust],
      bootstrapIdentityCert: bootPaths.cert,
      bootstrapIdentityPk: bootPaths.key,
      identityAutoRenew: {
        rotateKey: true,
        threshold: { kind: 'percent', value: 80 },
        retry: { kind: 'percent', value: 4 },
      },
    };
    const logger = createLogger({
      level: 'info',
      destination: { write: (s: string) => logs.push(JSON.parse(s)) },
    });
    manager = new EstIdentityManager({ est, deviceId: 'gw-1', dir: join(dir, 'certs'), log: logger });
    mode = 'good';
    await manager.ensure();
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await cleanup?.();
  });
  beforeEach(() => {
    mode = 'good';
  });

  it.each([
    ['wrong-content-type', 'wrong-content-type'],
    ['malformed', 'malformed-pkcs7'],
    ['other-key', 'wrong-key'],
    ['other-subject', 'wrong-subject'],
    ['other-ca', 'untrusted'],
  ] as const)('refuses a %s answer and keeps the current certificate', async (bad, reason) => {
    const before = manager.current();
    const onDisk = await readFile(join(dir, 'certs', 'est-identity.cert.pem'), 'utf8');
    mode = bad;
    let caught: unknown;
    try {
      await manager.renew();
    } catch (err) {
      caught = err;
    }
    expect(isGatehouseError(caught, 'GH_ERR_PROTOCOL')).toBe(true);
    expect((caught as { details?: { reason?: string } }).details?.reason).toBe(reason);
    expect(manager.current()).toBe(before);
    expect(await readFile(join(dir, 'certs', 'est-identity.cert.pem'), 'utf8')).toBe(onDisk);
    expect(manager.lastError()?.message).toMatch(/EST simplereenroll refused/);
    expect(logs.some((l) => l.msg === 'identity certificate renewal failed; keeping the current one')).toBe(
      true,
    );
  });

  it('renews again once the server behaves (the failure is cleared)', async () => {
    const before = manager.current()?.cred.cert.serialHex;
    const next = await manager.renew();
    expect(next.cred.cert.serialHex).not.toBe(before);
    expect(manager.lastError()).toBeUndefined();
  });
});
