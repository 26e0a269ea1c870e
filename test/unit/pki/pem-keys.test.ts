import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type GatehouseError, isGatehouseError } from '../../../src/errors.ts';
import {
  assertKeyMatchesCertificate,
  decodePem,
  encodePem,
  importPrivateKeyPem,
  keyMatchesCertificate,
  normalizeThumbprint,
  parseCertificatePem,
  parseCertificatesPem,
  thumbprint,
  thumbprintsEqual,
  toOpensslForm,
} from '../../../src/pki/index.ts';
import { makeTestPki, type TestPki } from '../../helpers/pki.ts';

const T0 = new Date(Date.UTC(2026, 0, 15, 12, 0, 0));

function errorOf(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (err) {
    if (isGatehouseError(err)) return err;
    throw new Error(`expected a GatehouseError, got ${String(err)}`);
  }
  throw new Error('expected a refusal');
}

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki({ now: T0 });
});

describe('malformed PEM is refused with GH_ERR_PEM', () => {
  const cases: Array<[string, () => string]> = [
    ['empty text', () => ''],
    ['no PEM block', () => 'hello world\n'],
    ['damaged base64', () => '-----BEGIN CERTIFICATE-----\nMII$$$notbase64\n-----END CERTIFICATE-----\n'],
    ['base64 that is not a certificate', () => encodePem('CERTIFICATE', Buffer.from('not a certificate'))],
    ['truncated certificate', () => encodePem('CERTIFICATE', pki.root.cert.der.subarray(0, 100))],
    ['only a private key', () => pki.root.keyPem],
    ['mismatched BEGIN/END labels', () => pki.root.cert.pem.replace('END CERTIFICATE', 'END X509 CRL')],
  ];
  it.each(cases)('%s', (_name, text) => {
    const err = errorOf(() => parseCertificatePem(text(), 'test file'));
    expect(err.code).toBe('GH_ERR_PEM');
    expect(err.message).toMatch(/^test file/);
  });

  it('a damaged block in the middle of a chain names which certificate', () => {
    const chain = pki.root.cert.pem + encodePem('CERTIFICATE', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]));
    const err = errorOf(() => parseCertificatesPem(chain, 'chain.pem'));
    expect(err.code).toBe('GH_ERR_PEM');
    expect(err.message).toContain('certificate 2');
  });

  it('parses a chain in order and skips non-certificate blocks', () => {
    const text = `junk\n${pki.edgeCa.cert.pem}${pki.root.keyPem}${pki.intermediate.cert.pem}`;
    expect(parseCertificatesPem(text).map((c) => c.subjectCn)).toEqual([
      'Gatehouse Test Edge CA',
      'Gatehouse Test Intermediate CA',
    ]);
    expect(decodePem(text).map((b) => b.label)).toEqual(['CERTIFICATE', 'PRIVATE KEY', 'CERTIFICATE']);
  });

  it('CRLF line endings are accepted', () => {
    expect(parseCertificatePem(pki.root.cert.pem.replace(/\n/g, '\r\n')).sha256).toBe(pki.root.cert.sha256);
  });
});

describe('private keys', () => {
  it('imports PKCS#8, SEC1 and PKCS#1 keys', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(
      (await importPrivateKeyPem(ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string)).type,
    ).toBe('ec-p256');
    expect(
      (await importPrivateKeyPem(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string)).type,
    ).toBe('rsa-2048');
    expect((await importPrivateKeyPem(pki.root.keyPem)).type).toBe('ec-p256');
  });

  it('refuses unreadable and unsupported keys without quoting them', async () => {
    const secretish = `-----BEGIN PRIVATE KEY-----\nSECRETSECRETSECRET\n-----END PRIVATE KEY-----\n`;
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    for (const pem of [secretish, ed, p384]) {
      const err = await importPrivateKeyPem(pem, 'the key').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isGatehouseError(err, 'GH_ERR_PEM')).toBe(true);
      expect(JSON.stringify({ m: (err as Error).message, c: String((err as Error).cause) })).not.toContain(
        'SECRET',
      );
    }
  });

  it('key/certificate mismatch is detected and refused with GH_ERR_KEY_MISMATCH, no key in the error', () => {
    expect(keyMatchesCertificate(pki.root.keyPem, pki.root.cert)).toBe(true);
    expect(keyMatchesCertificate(pki.intermediate.keyPem, pki.root.cert)).toBe(false);
    expect(keyMatchesCertificate('garbage', pki.root.cert)).toBe(false);
    expect(errorOf(() => assertKeyMatchesCertificate('garbage', pki.root.cert, 'root')).code).toBe(
      'GH_ERR_PEM',
    );
    const err = errorOf(() => assertKeyMatchesCertificate(pki.intermediate.keyPem, pki.root.cert, 'root'));
    expect(err.code).toBe('GH_ERR_KEY_MISMATCH');
    const body = pki.intermediate.keyPem.split('\n')[1] as string;
    expect(`${err.message}${JSON.stringify(err.details)}`).not.toContain(body.slice(0, 20));
  });
});

describe('thumbprints', () => {
  it('known answer: SHA-256 and SHA-1 of "abc" in IoT Hub form', () => {
    const abc = Buffer.from('abc');
    expect(thumbprint(abc)).toBe('BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD');
    expect(thumbprint(abc, 'sha1')).toBe('A9993E364706816ABA3E25717850C26C9CD0D89D');
  });

  it('CertInfo thumbprints are over the DER and match Node’s fingerprints in openssl form', () => {
    const c = pki.root.cert;
    expect(c.sha256).toBe(thumbprint(c.der));
    expect(toOpensslForm(c.sha256)).toBe(c.native.fingerprint256);
    expect(toOpensslForm(c.sha1)).toBe(c.native.fingerprint);
  });

  it('openssl form ⇄ IoT Hub form, case-insensitive comparison', () => {
    const hub = 'BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD';
    const openssl = toOpensslForm(hub);
    expect(openssl).toBe(
      'BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD',
    );
    expect(normalizeThumbprint(openssl.toLowerCase())).toBe(hub);
    expect(normalizeThumbprint(` ${hub.toLowerCase()}\n`)).toBe(hub);
    expect(thumbprintsEqual(hub.toLowerCase(), openssl)).toBe(true);
    expect(thumbprintsEqual(hub, hub.replace(/.$/, '0'))).toBe(false);
  });

  it('refuses what is not a SHA-1 or SHA-256 thumbprint', () => {
    for (const t of ['', 'XYZ', 'AB'.repeat(31), 'AB'.repeat(33), `${'AB'.repeat(31)}G0`]) {
      expect(normalizeThumbprint(t)).toBeUndefined();
    }
    expect(thumbprintsEqual('', '')).toBe(false);
  });
});
