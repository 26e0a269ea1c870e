import { beforeAll, describe, expect, it } from 'vitest';
import { checkCaCertificate, checkProofOfPossession } from '../../../src/hub/ca-proof.ts';
import { makeCred, makeTestPki, type TestPki } from '../../helpers/pki.ts';

const T0 = new Date(Date.UTC(2026, 0, 15, 12, 0, 0));
const NOW = T0.getTime() + 3_600_000;
const DAY = 86_400_000;

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki({ now: T0 });
});

describe('checkCaCertificate', () => {
  it('accepts a valid CA and refuses leaves, expired and future CAs', async () => {
    expect(checkCaCertificate(pki.root.cert, NOW)).toEqual({ ok: true });
    expect(checkCaCertificate(pki.intermediate.cert, NOW)).toEqual({ ok: true });
    const leaf = await pki.device('leaf', { now: T0 });
    expect(checkCaCertificate(leaf.cert, NOW)).toMatchObject({ ok: false, reason: 'not-ca' });
    expect(checkCaCertificate(pki.root.cert, pki.root.cert.notAfter + 1)).toMatchObject({
      ok: false,
      reason: 'expired',
    });
    expect(checkCaCertificate(pki.root.cert, pki.root.cert.notBefore - 1)).toMatchObject({
      ok: false,
      reason: 'not-yet-valid',
    });
  });
});

describe('checkProofOfPossession', () => {
  it('accepts a leaf signed by the CA with CN = code', async () => {
    const proof = await makeCred('verification', 'CODE123', pki.intermediate, { now: T0 });
    expect(
      checkProofOfPossession({
        ca: pki.intermediate.cert,
        verification: proof.cert,
        code: 'CODE123',
        now: NOW,
      }),
    ).toEqual({ ok: true });
  });

  it('refuses the wrong code, another signer, an expired proof and a CA as proof', async () => {
    const proof = await makeCred('verification', 'CODE123', pki.intermediate, { now: T0 });
    const p = (over: Partial<Parameters<typeof checkProofOfPossession>[0]>) =>
      checkProofOfPossession({
        ca: pki.intermediate.cert,
        verification: proof.cert,
        code: 'CODE123',
        now: NOW,
        ...over,
      });
    expect(p({ code: 'OTHER' })).toMatchObject({ ok: false, reason: 'wrong-code' });
    // Signed by the root, not by the uploaded intermediate (the root is no anchor here).
    const byRoot = await makeCred('verification', 'CODE123', pki.root, { now: T0 });
    expect(p({ verification: byRoot.cert })).toMatchObject({ ok: false, reason: 'wrong-signer' });
    // Same subject name, different key.
    const twin = await makeTestPki({ now: T0 });
    const byTwin = await makeCred('verification', 'CODE123', twin.intermediate, { now: T0 });
    expect(p({ verification: byTwin.cert })).toMatchObject({ ok: false, reason: 'wrong-signer' });
    expect(p({ now: proof.cert.notAfter + DAY })).toMatchObject({ ok: false, reason: 'expired' });
    const caProof = await makeCred('intermediate', 'CODE123', pki.root, { now: T0 });
    expect(p({ ca: pki.root.cert, verification: caProof.cert })).toMatchObject({
      ok: false,
      reason: 'verification-is-ca',
    });
  });
});
