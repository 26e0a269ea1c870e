import { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCsr, csrSubjectKeys, parseCsr } from '../../../src/est/csr.ts';
import { encodeCertsOnly } from '../../../src/est/pkcs7.ts';
import { checkEnrollResponse, type EnrollExpectation } from '../../../src/est/response.ts';
import { generateKeyPair, issueCertificate, type KeyPair } from '../../../src/pki/index.ts';
import { makeCred, type TestCred } from '../../helpers/pki.ts';

const T0 = Date.UTC(2026, 0, 1);
const MIME = 'application/pkcs7-mime; smime-type=certs-only';

async function issueFor(ca: TestCred, keys: KeyPair, cn: string, days = 30) {
  const csr = await parseCsr(await createCsr(keys, cn));
  return issueCertificate({
    profile: 'client',
    commonName: cn,
    subjectKeys: await csrSubjectKeys(csr),
    issuer: ca,
    days,
    now: new Date(T0),
  });
}

describe('checkEnrollResponse', async () => {
  const ca = await makeCred('root', 'EST CA', undefined, { now: new Date(T0) });
  const keys = await generateKeyPair('ec-p256');
  const want: EnrollExpectation = {
    publicKey: KeyObject.from(keys.publicKey),
    commonName: 'gw-1',
    caCerts: [ca.cert],
    now: T0 + 60_000,
  };
  const good = await issueFor(ca, keys, 'gw-1');

  it('accepts a certs-only answer with the requested key and CN, chaining to the EST CA', () => {
    const r = checkEnrollResponse({ status: 200, contentType: MIME, body: encodeCertsOnly([good]) }, want);
    expect(r.ok && r.cert.sha256).toBe(good.sha256);
    expect(r.ok && r.chain.map((c) => c.sha256)).toEqual([good.sha256]);
  });

  it('refuses a non-200 status', () => {
    const r = checkEnrollResponse({ status: 403, contentType: 'application/json', body: '{}' }, want);
    expect(r.ok ? 'accepted' : r.reason).toBe('http-status');
  });

  it('refuses the wrong content type, even around a good body', () => {
    const r = checkEnrollResponse(
      { status: 200, contentType: 'application/pkix-cert', body: encodeCertsOnly([good]) },
      want,
    );
    expect(r.ok ? 'accepted' : r.reason).toBe('wrong-content-type');
  });

  it('refuses a malformed PKCS#7 body', () => {
    const r = checkEnrollResponse({ status: 200, contentType: MIME, body: 'bm90IFBLQ1MjNw==' }, want);
    expect(r.ok ? 'accepted' : r.reason).toBe('malformed-pkcs7');
  });

  it('refuses a certificate for another key', async () => {
    const other = await issueFor(ca, await generateKeyPair('ec-p256'), 'gw-1');
    const r = checkEnrollResponse({ status: 200, contentType: MIME, body: encodeCertsOnly([other]) }, want);
    expect(r.ok ? 'accepted' : r.reason).toBe('wrong-key');
  });

  it('refuses a certificate for another subject', async () => {
    const other = await issueFor(ca, keys, 'gw-2');
    const r = checkEnrollResponse({ status: 200, contentType: MIME, body: encodeCertsOnly([other]) }, want);
    expect(r.ok ? 'accepted' : r.reason).toBe('wrong-subject');
  });

  it('refuses a certificate from another CA', async () => {
    const rogue = await makeCred('root', 'Rogue CA', undefined, { now: new Date(T0) });
    const other = await issueFor(rogue, keys, 'gw-1');
    const r = checkEnrollResponse(
      { status: 200, contentType: MIME, body: encodeCertsOnly([other, rogue.cert]) },
      want,
    );
    expect(r.ok ? 'accepted' : r.reason).toBe('untrusted');
  });

  it('refuses the wrong profile: a CA for an identity, a leaf for an Edge CA', async () => {
    const csr = await parseCsr(await createCsr(keys, 'gw-1'));
    const ca1 = await issueCertificate({
      profile: 'edge-ca',
      commonName: 'gw-1',
      subjectKeys: await csrSubjectKeys(csr),
      issuer: ca,
      days: 30,
      now: new Date(T0),
    });
    const asIdentity = checkEnrollResponse(
      { status: 200, contentType: MIME, body: encodeCertsOnly([ca1]) },
      want,
    );
    expect(asIdentity.ok ? 'accepted' : asIdentity.reason).toBe('wrong-profile');
    const asEdgeCa = checkEnrollResponse(
      { status: 200, contentType: MIME, body: encodeCertsOnly([good]) },
      { ...want, profile: 'edge-ca' },
    );
    expect(asEdgeCa.ok ? 'accepted' : asEdgeCa.reason).toBe('wrong-profile');
    const ok = checkEnrollResponse(
      { status: 200, contentType: MIME, body: encodeCertsOnly([ca1]) },
      { ...want, profile: 'edge-ca' },
    );
    expect(ok.ok && ok.anchor.sha256).toBe(ca.cert.sha256);
  });

  it('refuses a certificate that is not valid now', () => {
    const r = checkEnrollResponse(
      { status: 200, contentType: MIME, body: encodeCertsOnly([good]) },
      { ...want, now: T0 + 31 * 86_400_000 },
    );
    expect(r.ok ? 'accepted' : r.reason).toBe('not-valid-now');
  });
});
