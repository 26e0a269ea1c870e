import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  parseCertificateDer,
  parseCertificateFingerprinted,
  parseCertificateX509,
} from '../../../src/pki/index.ts';
import { webcrypto, x509 } from '../../../src/pki/webcrypto.ts';
import { makeTestPki } from '../../helpers/pki.ts';

describe('parseCertificateX509 (TLS peers, looked up by the native fingerprint)', () => {
  it('gives the same parsed view as the DER parse, and keeps it for the next connection', async () => {
    const pki = await makeTestPki();
    const device = await pki.selfSigned('dev-x509');
    const first = parseCertificateX509(new X509Certificate(device.cert.der), 'client certificate 1');
    expect(first.sha256).toBe(device.cert.sha256);
    expect(first.sha256).toBe(new X509Certificate(device.cert.der).fingerprint256.replaceAll(':', ''));
    expect(first.subjectCn).toBe('dev-x509');
    // A later connection presents a new X509Certificate object for the same certificate.
    expect(parseCertificateX509(new X509Certificate(device.cert.der))).toBe(first);
    expect(parseCertificateDer(device.cert.der)).toBe(first);
  });

  it('tells different certificates apart', async () => {
    const pki = await makeTestPki();
    const [a, b] = await Promise.all([pki.selfSigned('dev-a'), pki.selfSigned('dev-a')]);
    const ia = parseCertificateX509(new X509Certificate(a.cert.der));
    const ib = parseCertificateX509(new X509Certificate(b.cert.der));
    expect(ia.sha256).toBe(a.cert.sha256);
    expect(ib.sha256).toBe(b.cert.sha256);
    expect(ia.sha256).not.toBe(ib.sha256);
  });

  it('reads the DER only when the fingerprint is not known yet', async () => {
    // Made with @peculiar/x509 directly, so Gatehouse's parse cache has never seen it.
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const made = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '0a1b2c',
      name: 'CN=dev-fp',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: alg,
      keys,
    });
    const der = Buffer.from(made.rawData);
    const fingerprint = new X509Certificate(der).fingerprint256;
    let reads = 0;
    const read = () => {
      reads++;
      return der;
    };
    const first = parseCertificateFingerprinted(fingerprint, read, 'client certificate 1');
    expect(first.subjectCn).toBe('dev-fp');
    expect(first.sha256).toBe(fingerprint.replaceAll(':', ''));
    expect(parseCertificateFingerprinted(fingerprint, read)).toBe(first);
    expect(parseCertificateX509(new X509Certificate(der))).toBe(first);
    expect(reads).toBe(1);
  });

  it('names the certificate when its DER is not a certificate', () => {
    expect(() =>
      parseCertificateFingerprinted('AA:BB', () => Buffer.from('junk'), 'client certificate 1'),
    ).toThrow(/client certificate 1: not a valid X\.509 certificate/);
  });
});
