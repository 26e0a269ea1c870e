import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ErrorCode, isGatehouseError } from '../../../src/errors.ts';
import { makeCred, makeTestPki, type TestPki } from '../../helpers/pki.ts';
import { startTestHub, type TestHub } from './helpers.ts';

let t: TestHub;
let pki: TestPki;

beforeAll(async () => {
  t = await startTestHub();
  pki = await makeTestPki();
});

afterAll(async () => {
  await t?.cleanup();
});

async function refusal(p: Promise<unknown>): Promise<{ code: ErrorCode; reason: unknown }> {
  try {
    await p;
  } catch (err) {
    if (isGatehouseError(err)) return { code: err.code, reason: err.details?.reason };
    throw err;
  }
  throw new Error('expected a refusal');
}

const DAY = 86_400_000;

describe('hub CA proof of possession', () => {
  it('upload → code → verification certificate signed by the CA → verified', async () => {
    const up = await t.hub.admin.uploadCa('happy', pki.intermediate.cert.pem);
    expect(up.verified).toBe(false);
    expect(up.verificationCode).toMatch(/^[0-9A-F]{32}$/);
    expect(await t.hub.admin.listCas()).toContainEqual(
      expect.objectContaining({ name: 'happy', verified: false, thumbprint: pki.intermediate.cert.sha256 }),
    );
    const proof = await makeCred('verification', up.verificationCode, pki.intermediate);
    expect(await t.hub.admin.verifyCa('happy', proof.cert.pem)).toEqual({ name: 'happy', verified: true });
    expect((await t.hub.admin.listCas()).find((c) => c.name === 'happy')?.verified).toBe(true);
  });

  it('refuses a verification certificate with the wrong code', async () => {
    const other = await makeTestPki();
    await t.hub.admin.uploadCa('wrong-code', other.root.cert.pem);
    const proof = await makeCred('verification', 'NOT-THE-CODE', other.root);
    expect(await refusal(t.hub.admin.verifyCa('wrong-code', proof.cert.pem))).toEqual({
      code: 'GH_ERR_VERIFICATION',
      reason: 'wrong-code',
    });
    expect((await t.hub.admin.listCas()).find((c) => c.name === 'wrong-code')?.verified).toBe(false);
  });

  it('refuses a verification certificate signed by another key', async () => {
    const other = await makeTestPki();
    const { verificationCode } = await t.hub.admin.uploadCa('wrong-signer', other.root.cert.pem);
    const impostor = await makeTestPki();
    const proof = await makeCred('verification', verificationCode, impostor.root);
    expect(await refusal(t.hub.admin.verifyCa('wrong-signer', proof.cert.pem))).toEqual({
      code: 'GH_ERR_VERIFICATION',
      reason: 'wrong-signer',
    });
  });

  it('refuses an expired verification certificate', async () => {
    const other = await makeTestPki({ now: new Date(Date.now() - 30 * DAY) });
    const { verificationCode } = await t.hub.admin.uploadCa('expired-proof', other.root.cert.pem);
    const proof = await makeCred('verification', verificationCode, other.root, {
      now: new Date(Date.now() - 10 * DAY),
      days: 1,
    });
    expect(await refusal(t.hub.admin.verifyCa('expired-proof', proof.cert.pem))).toEqual({
      code: 'GH_ERR_VERIFICATION',
      reason: 'expired',
    });
  });

  it('refuses to upload a non-CA or expired certificate, or garbage', async () => {
    const leaf = await pki.device('leaf-not-ca');
    expect(await refusal(t.hub.admin.uploadCa('leaf', leaf.cert.pem))).toEqual({
      code: 'GH_ERR_INPUT',
      reason: 'not-ca',
    });
    const old = await makeCred('root', 'Old Root', undefined, {
      now: new Date(Date.now() - 10 * DAY),
      days: 2,
    });
    expect(await refusal(t.hub.admin.uploadCa('old', old.cert.pem))).toEqual({
      code: 'GH_ERR_INPUT',
      reason: 'expired',
    });
    expect((await refusal(t.hub.admin.uploadCa('garbage', 'not a certificate'))).code).toBe('GH_ERR_PEM');
    expect((await refusal(t.hub.admin.uploadCa('bad name!', pki.root.cert.pem))).code).toBe('GH_ERR_INPUT');
    const names = (await t.hub.admin.listCas()).map((c) => c.name);
    expect(names).not.toContain('leaf');
    expect(names).not.toContain('old');
  });

  it('refuses duplicate names and duplicate certificates; unknown names are NOT_FOUND', async () => {
    await t.hub.admin.uploadCa('dup-ca', pki.root.cert.pem);
    const another = await makeTestPki();
    expect((await refusal(t.hub.admin.uploadCa('dup-ca', another.root.cert.pem))).code).toBe(
      'GH_ERR_CONFLICT',
    );
    expect((await refusal(t.hub.admin.uploadCa('dup-ca-2', pki.root.cert.pem))).code).toBe('GH_ERR_CONFLICT');
    expect((await refusal(t.hub.admin.verifyCa('no-such-ca', pki.root.cert.pem))).code).toBe(
      'GH_ERR_NOT_FOUND',
    );
  });
});
