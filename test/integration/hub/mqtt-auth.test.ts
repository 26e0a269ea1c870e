import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCred, makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';
import { connectDevice, connectRefusal, eventually, startTestHub, type TestHub } from './helpers.ts';

let pki: TestPki;
let t: TestHub;
let primary: TestCred;
let secondary: TestCred;
let sha1Cred: TestCred;
let stranger: TestCred;

beforeAll(async () => {
  pki = await makeTestPki();
  t = await startTestHub();
  primary = await pki.selfSigned('thumb-1');
  secondary = await pki.selfSigned('thumb-1');
  sha1Cred = await pki.selfSigned('thumb-sha1');
  stranger = await pki.selfSigned('thumb-1');
  const admin = t.hub.admin;
  await admin.addDevice({
    deviceId: 'thumb-1',
    auth: {
      type: 'selfSigned',
      primaryThumbprint: primary.cert.sha256,
      secondaryThumbprint: secondary.cert.sha256.toLowerCase(),
    },
  });
  await admin.addDevice({
    deviceId: 'thumb-sha1',
    auth: { type: 'selfSigned', primaryThumbprint: sha1Cred.cert.sha1 },
  });
  await admin.addDevice({
    deviceId: 'off-1',
    auth: { type: 'selfSigned', primaryThumbprint: primary.cert.sha256 },
    disabled: true,
  });
  await admin.addDevice({ deviceId: 'ca-dev-1', auth: { type: 'certificateAuthority' } });
});

afterAll(async () => {
  await t?.cleanup();
});

const refusedWith = (reason: string, deviceId: string) =>
  t.logs.some((l) => l.msg === 'connection refused' && l.reason === reason && l.deviceId === deviceId);

describe('hub MQTT authentication: thumbprint', () => {
  it('accepts the primary, the secondary and a SHA-1 registration', async () => {
    for (const [id, cred] of [
      ['thumb-1', primary],
      ['thumb-1', secondary],
      ['thumb-sha1', sha1Cred],
    ] as const) {
      const c = await connectDevice(t.hub, id, cred);
      expect(c.connected).toBe(true);
      await c.endAsync();
    }
  });

  it('refuses an unknown thumbprint with CONNACK 5 and logs the reason', async () => {
    expect(await connectRefusal(t.hub, 'thumb-1', stranger)).toBe(5);
    await eventually(() => refusedWith('thumbprint-mismatch', 'thumb-1'));
  });

  it('refuses a disabled device', async () => {
    expect(await connectRefusal(t.hub, 'off-1', primary)).toBe(5);
    await eventually(() => refusedWith('disabled', 'off-1'));
  });

  it('refuses a client id that is not the certificate owner', async () => {
    expect(await connectRefusal(t.hub, 'thumb-sha1', primary)).toBe(5);
    expect(await connectRefusal(t.hub, 'nobody', primary)).toBe(5);
    await eventually(() => refusedWith('unknown-device', 'nobody'));
  });

  it('refuses a username naming another device', async () => {
    expect(
      await connectRefusal(t.hub, 'thumb-1', primary, {
        username: 'localhost/thumb-sha1/?api-version=2021-04-12',
      }),
    ).toBe(5);
    await eventually(() => refusedWith('username-mismatch', 'thumb-1'));
  });

  it('refuses a connection without a client certificate', async () => {
    expect(await connectRefusal(t.hub, 'thumb-1', primary, { noCert: true })).toBe(5);
    await eventually(() => refusedWith('no-client-cert', 'thumb-1'));
  });

  it('refuses an empty client id', async () => {
    expect(await connectRefusal(t.hub, '', primary, { username: undefined, clean: true })).toBe(5);
  });

  it('closes the live connection when the device is disabled, and refuses it afterwards', async () => {
    await t.hub.admin.addDevice({
      deviceId: 'to-disable',
      auth: { type: 'selfSigned', primaryThumbprint: primary.cert.sha256 },
    });
    const c = await connectDevice(t.hub, 'to-disable', primary);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    await t.hub.admin.updateDevice('to-disable', { status: 'disabled' });
    await closed;
    expect(await connectRefusal(t.hub, 'to-disable', primary)).toBe(5);
    await t.hub.admin.updateDevice('to-disable', { status: 'enabled' });
    expect(await connectRefusal(t.hub, 'to-disable', primary)).toBeUndefined();
  });
});

describe('hub MQTT authentication: CA', () => {
  it('refuses a CA-signed device until its CA is verified, then accepts it', async () => {
    const dev = await pki.device('ca-dev-1');
    expect(await connectRefusal(t.hub, 'ca-dev-1', dev)).toBe(5);
    await eventually(() => refusedWith('untrusted-ca', 'ca-dev-1'));

    const { verificationCode } = await t.hub.admin.uploadCa('test-root', pki.root.cert.pem);
    expect(await connectRefusal(t.hub, 'ca-dev-1', dev)).toBe(5);

    const proof = await makeCred('verification', verificationCode, pki.root);
    await t.hub.admin.verifyCa('test-root', proof.cert.pem);
    const c = await connectDevice(t.hub, 'ca-dev-1', dev);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('refuses a CA-signed certificate whose CN is another device', async () => {
    const other = await pki.device('someone-else');
    expect(await connectRefusal(t.hub, 'ca-dev-1', other)).toBe(5);
    await eventually(() => refusedWith('cn-mismatch', 'ca-dev-1'));
  });

  it('refuses a chain that does not reach a verified CA', async () => {
    const foreign = await makeTestPki();
    const dev = await foreign.device('ca-dev-1');
    expect(await connectRefusal(t.hub, 'ca-dev-1', dev)).toBe(5);
  });
});
