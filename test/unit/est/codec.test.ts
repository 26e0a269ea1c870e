import { describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import { createCsr, csrSubjectKeys, parseCsr } from '../../../src/est/csr.ts';
import { decodeCertsOnly, encodeCertsOnly, isPkcs7Mime } from '../../../src/est/pkcs7.ts';
import { generateKeyPair, issueCertificate, publicKeyInfo } from '../../../src/pki/index.ts';
import { makeCred } from '../../helpers/pki.ts';

const T0 = new Date(Date.UTC(2026, 0, 1));

describe('PKCS#7 certs-only', () => {
  it('round-trips certificates through base64 certs-only SignedData', async () => {
    const root = await makeCred('root', 'Test Root', undefined, { now: T0 });
    const leaf = await makeCred('client', 'dev-1', root, { now: T0 });
    const body = encodeCertsOnly([leaf.cert, root.cert]);
    expect(body).toMatch(/^[A-Za-z0-9+/]+=*$/);
    // RFC 7030 bodies may be folded into lines.
    const folded = body.replace(/(.{64})/g, '$1\r\n');
    const certs = decodeCertsOnly(folded);
    expect(certs.map((c) => c.sha256)).toEqual([leaf.cert.sha256, root.cert.sha256]);
  });

  it.each([
    ['empty', ''],
    ['not base64', 'hello, world!'],
    ['base64 of garbage', Buffer.from('not DER at all').toString('base64')],
    ['a certificate, not PKCS#7', 'MIIB'],
  ])('refuses %s with GH_ERR_PROTOCOL', (_what, body) => {
    let caught: unknown;
    try {
      decodeCertsOnly(body);
    } catch (err) {
      caught = err;
    }
    expect(isGatehouseError(caught, 'GH_ERR_PROTOCOL')).toBe(true);
  });

  it('refuses a SignedData without certificates', () => {
    expect(() => decodeCertsOnly(encodeCertsOnly([]))).toThrow(/no certificate/);
  });

  it('recognizes application/pkcs7-mime with parameters only', () => {
    expect(isPkcs7Mime('application/pkcs7-mime; smime-type=certs-only')).toBe(true);
    expect(isPkcs7Mime('Application/PKCS7-MIME')).toBe(true);
    expect(isPkcs7Mime('application/json')).toBe(false);
    expect(isPkcs7Mime(undefined)).toBe(false);
  });
});

describe('PKCS#10 requests', () => {
  it('creates a request that parses back with its CN and key, and can be issued from', async () => {
    const keys = await generateKeyPair('ec-p256');
    const csr = await parseCsr(await createCsr(keys, 'gw-1'));
    expect(csr.commonName).toBe('gw-1');
    expect(csr.keyType).toBe('ec-p256');
    expect(csr.spki.equals(publicKeyInfo(keys.publicKey).spki)).toBe(true);
    const ca = await makeCred('root', 'EST CA', undefined);
    const cert = await issueCertificate({
      profile: 'client',
      commonName: 'gw-1',
      subjectKeys: await csrSubjectKeys(csr),
      issuer: ca,
      days: 1,
    });
    expect(cert.publicKey.export({ type: 'spki', format: 'der' }).equals(csr.spki)).toBe(true);
  });

  it('accepts RSA requests and PEM-wrapped bodies', async () => {
    const keys = await generateKeyPair('rsa-2048');
    const b64 = await createCsr(keys, 'dev-rsa');
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${b64.replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect((await parseCsr(pem)).keyType).toBe('rsa-2048');
  });

  it('refuses a request whose signature does not verify (no proof of possession)', async () => {
    const der = Buffer.from(await createCsr(await generateKeyPair('ec-p256'), 'gw-1'), 'base64');
    // Flip a bit in the signature (the last bytes of the DER).
    der[der.length - 2] = (der[der.length - 2] ?? 0) ^ 0x01;
    await expect(parseCsr(der.toString('base64'))).rejects.toThrow(/signature does not verify|not a PKCS#10/);
  });

  it('refuses bodies that are not requests, and signing-key misuse of the CSR key fails closed', async () => {
    await expect(parseCsr('')).rejects.toThrow(/not a base64/);
    await expect(parseCsr('%%%')).rejects.toThrow(/not a base64/);
    await expect(parseCsr(Buffer.from('junk').toString('base64'))).rejects.toThrow(/not a PKCS#10/);
    const csr = await parseCsr(await createCsr(await generateKeyPair('ec-p256'), 'x'));
    const subject = await csrSubjectKeys(csr);
    // Self-signing with a request's key would need its private half, which the CA never has.
    await expect(
      issueCertificate({ profile: 'self-signed-device', commonName: 'x', subjectKeys: subject, days: 1 }),
    ).rejects.toThrow();
  });
});
