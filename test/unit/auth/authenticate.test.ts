import { beforeAll, describe, expect, it } from 'vitest';
import { type AuthInput, authenticateDevice } from '../../../src/auth/authenticate.ts';
import { generateKeyPair, parseCertificateDer } from '../../../src/pki/index.ts';
import { x509 } from '../../../src/pki/webcrypto.ts';
import type { DeviceRecord } from '../../../src/registry/device.ts';
import { makeCred, makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';

const T0 = new Date(Date.UTC(2026, 0, 15, 12, 0, 0));
const NOW = T0.getTime() + 3_600_000;

function record(
  deviceId: string,
  authentication: DeviceRecord['authentication'],
  over: Partial<DeviceRecord> = {},
): DeviceRecord {
  return {
    deviceId,
    status: 'enabled',
    authentication,
    capabilities: { iotEdge: false },
    etag: 'e1',
    generation: 1,
    lastUpdated: T0.toISOString(),
    ...over,
  };
}

let pki: TestPki;
let selfSigned: TestCred;
let caDevice: TestCred;

beforeAll(async () => {
  pki = await makeTestPki({ now: T0 });
  selfSigned = await pki.selfSigned('thumb-1', { now: T0 });
  caDevice = await pki.device('ca-1', { now: T0 });
});

function input(over: Partial<AuthInput>): AuthInput {
  return {
    clientId: 'thumb-1',
    username: undefined,
    peerChain: [selfSigned.cert],
    record: record('thumb-1', { type: 'selfSigned', primaryThumbprint: selfSigned.cert.sha256 }),
    inScope: true,
    verifiedCas: [],
    now: NOW,
    ...over,
  };
}

const caInput = (over: Partial<AuthInput> = {}): AuthInput =>
  input({
    clientId: 'ca-1',
    peerChain: [caDevice.cert, pki.intermediate.cert],
    record: record('ca-1', { type: 'certificateAuthority' }),
    verifiedCas: [pki.root.cert],
    ...over,
  });

describe('authenticateDevice: thumbprint', () => {
  it('accepts the primary SHA-256 thumbprint, a secondary, and a SHA-1 one, in any case', () => {
    expect(authenticateDevice(input({}))).toMatchObject({
      ok: true,
      method: 'thumbprint',
      deviceId: 'thumb-1',
    });
    const secondary = record('thumb-1', {
      type: 'selfSigned',
      primaryThumbprint: 'A'.repeat(64),
      secondaryThumbprint: selfSigned.cert.sha256.toLowerCase(),
    });
    expect(authenticateDevice(input({ record: secondary })).ok).toBe(true);
    const sha1 = record('thumb-1', { type: 'selfSigned', primaryThumbprint: selfSigned.cert.sha1 });
    expect(authenticateDevice(input({ record: sha1 })).ok).toBe(true);
  });

  it.each([
    ['no-client-cert', { peerChain: [] }],
    ['bad-client-id', { clientId: '' }],
    ['username-mismatch', { username: 'hub/other/?api-version=1' }],
    ['unknown-device', { record: undefined }],
    [
      'disabled',
      {
        record: record(
          'thumb-1',
          { type: 'selfSigned', primaryThumbprint: 'A'.repeat(64) },
          { status: 'disabled' },
        ),
      },
    ],
    ['out-of-scope', { inScope: false }],
    [
      'thumbprint-mismatch',
      { record: record('thumb-1', { type: 'selfSigned', primaryThumbprint: 'B'.repeat(64) }) },
    ],
    ['cert-expired', { now: T0.getTime() + 31 * 86_400_000 }],
    ['cert-not-yet-valid', { now: T0.getTime() - 3_600_000 }],
  ] as const)('refuses with %s', (reason, over) => {
    const d = authenticateDevice(input(over as Partial<AuthInput>));
    expect(d).toMatchObject({ ok: false, reason });
  });

  it('accepts a matching IoT Hub username and refuses a record for another id', () => {
    expect(authenticateDevice(input({ username: 'hub.example/thumb-1/?api-version=2021-04-12' })).ok).toBe(
      true,
    );
    const other = record('someone-else', { type: 'selfSigned', primaryThumbprint: selfSigned.cert.sha256 });
    expect(authenticateDevice(input({ record: other }))).toMatchObject({
      ok: false,
      reason: 'unknown-device',
    });
  });
});

describe('authenticateDevice: CA chain', () => {
  it('accepts a chain to a verified CA, whether the root or the intermediate was verified', () => {
    expect(authenticateDevice(caInput())).toMatchObject({ ok: true, method: 'ca', deviceId: 'ca-1' });
    expect(
      authenticateDevice(caInput({ verifiedCas: [pki.intermediate.cert], peerChain: [caDevice.cert] })).ok,
    ).toBe(true);
  });

  it('refuses an unverified CA, a CN that is not the device id, a CA leaf, expiry, and a broken chain', async () => {
    expect(authenticateDevice(caInput({ verifiedCas: [] }))).toMatchObject({
      ok: false,
      reason: 'untrusted-ca',
    });
    expect(authenticateDevice(caInput({ peerChain: [caDevice.cert] }))).toMatchObject({
      ok: false,
      reason: 'untrusted-ca',
    });
    const other = await pki.device('ca-2', { now: T0 });
    expect(authenticateDevice(caInput({ peerChain: [other.cert, pki.intermediate.cert] }))).toMatchObject({
      ok: false,
      reason: 'cn-mismatch',
    });
    const caLeaf = await makeCred('intermediate', 'ca-1', pki.intermediate, { now: T0, pathLen: 0 });
    expect(authenticateDevice(caInput({ peerChain: [caLeaf.cert, pki.intermediate.cert] }))).toMatchObject({
      ok: false,
      reason: 'leaf-is-ca',
    });
    expect(authenticateDevice(caInput({ now: T0.getTime() + 40 * 86_400_000 }))).toMatchObject({
      ok: false,
      reason: 'cert-expired',
    });
  });

  it('refuses a server-only certificate (wrong EKU) and a certificate signed by another key', async () => {
    const server = await makeCred('server', 'ca-1', pki.intermediate, { now: T0 });
    expect(authenticateDevice(caInput({ peerChain: [server.cert, pki.intermediate.cert] }))).toMatchObject({
      ok: false,
      reason: 'wrong-eku',
    });
    // Same subject and issuer name as the real intermediate, different key: the chain must not validate.
    const rogueKeys = await generateKeyPair();
    const rogue = await x509.X509CertificateGenerator.create({
      subject: 'CN=ca-1',
      issuer: pki.intermediate.cert.subject,
      notBefore: T0,
      notAfter: new Date(T0.getTime() + 86_400_000),
      publicKey: rogueKeys.publicKey,
      signingKey: rogueKeys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    const rogueInfo = parseCertificateDer(Buffer.from(rogue.rawData));
    expect(authenticateDevice(caInput({ peerChain: [rogueInfo, pki.intermediate.cert] }))).toMatchObject({
      ok: false,
      reason: 'chain-invalid',
    });
  });

  it('never accepts a CA device through a thumbprint and never a thumbprint device through a CA', () => {
    const thumbRecord = record('ca-1', { type: 'selfSigned', primaryThumbprint: selfSigned.cert.sha256 });
    expect(authenticateDevice(caInput({ record: thumbRecord }))).toMatchObject({
      ok: false,
      reason: 'thumbprint-mismatch',
    });
    const caRecord = record('thumb-1', { type: 'certificateAuthority' });
    expect(authenticateDevice(input({ record: caRecord, verifiedCas: [pki.root.cert] }))).toMatchObject({
      ok: false,
    });
  });
});

describe('authenticateDevice: chain already verified by TLS', () => {
  const verified = (over: Partial<AuthInput> = {}): AuthInput =>
    caInput({ peerChain: [caDevice.cert], chainVerifiedByTls: true, ...over });

  it('accepts the leaf alone, without walking the chain', () => {
    expect(authenticateDevice(verified())).toMatchObject({ ok: true, method: 'ca', deviceId: 'ca-1' });
    // The same leaf alone, not vouched for by TLS, has no path to the root.
    expect(authenticateDevice(verified({ chainVerifiedByTls: false }))).toMatchObject({
      ok: false,
      reason: 'untrusted-ca',
    });
  });

  it('still checks the leaf itself: CN, CA flag, validity at the decision instant', () => {
    expect(
      authenticateDevice(
        verified({ clientId: 'other', record: record('other', { type: 'certificateAuthority' }) }),
      ),
    ).toMatchObject({ ok: false, reason: 'cn-mismatch' });
    const leafCa = verified({
      clientId: 'Gatehouse Test Intermediate CA',
      peerChain: [pki.intermediate.cert],
      record: record('Gatehouse Test Intermediate CA', { type: 'certificateAuthority' }),
    });
    expect(authenticateDevice(leafCa)).toMatchObject({ ok: false, reason: 'leaf-is-ca' });
    expect(authenticateDevice(verified({ now: caDevice.cert.notAfter + 1 }))).toMatchObject({
      ok: false,
      reason: 'cert-expired',
    });
    expect(authenticateDevice(verified({ now: Number.NaN }))).toMatchObject({ ok: false });
  });

  it('does not apply to thumbprint records', () => {
    expect(
      authenticateDevice(
        input({ chainVerifiedByTls: true, peerChain: [caDevice.cert], clientId: 'thumb-1' }),
      ),
    ).toMatchObject({ ok: false, reason: 'thumbprint-mismatch' });
  });
});
