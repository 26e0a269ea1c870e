import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCred, type TestCred } from '../../helpers/pki.ts';
import {
  connectDevice,
  type GatewayEnv,
  type LogLine,
  rawConnect,
  refusal,
  refusalsFor,
  startGatewayEnv,
  thumbprintAuth,
} from './helpers.ts';

// The listener hands OpenSSL the verified CAs; a chain OpenSSL verified in a full handshake skips the
// JavaScript chain walk. These cases check that the shortcut is taken, and only where it may be.
let env: GatewayEnv;
const creds: Record<string, TestCred> = {};

const connected = (deviceId: string): LogLine[] =>
  env.logs.filter((l) => l.msg === 'device connected' && l.deviceId === deviceId);

beforeAll(async () => {
  env = await startGatewayEnv();
  const { pki } = env;
  // The verified CA is the test intermediate (not self-signed): OpenSSL must accept a partial chain.
  await env.verifyCa('test-intermediate', pki.intermediate);
  const unverified = await makeCred('intermediate', 'Unverified CA', pki.root, { chainExtra: [] });
  await env.hub.admin.uploadCa('unverified', unverified.cert.pem);
  for (const id of ['v-ok', 'v-resume', 'v-cn', 'v-unverified']) {
    await env.addDevice(id, { type: 'certificateAuthority' });
  }
  creds.ok = await pki.device('v-ok');
  creds.resume = await pki.device('v-resume');
  creds.cn = await pki.device('someone-else');
  creds.unverified = await makeCred('client', 'v-unverified', unverified, { chainExtra: [unverified.cert] });
  creds.thumb = await pki.selfSigned('v-thumb');
  await env.addDevice('v-thumb', thumbprintAuth(creds.thumb));
  await env.sync();
});

afterAll(async () => {
  await env?.close();
});

describe('CA-signed devices whose chain OpenSSL verified during the handshake', () => {
  it('accepts them without the JavaScript chain walk, every time', async () => {
    for (let i = 0; i < 2; i++) {
      const c = await connectDevice(env, 'v-ok', creds.ok);
      expect(c.connected).toBe(true);
      await c.endAsync();
    }
    expect(connected('v-ok').map((l) => [l.method, l.chainVerifiedByTls])).toEqual([
      ['ca', true],
      ['ca', true],
    ]);
  });

  it('still refuses a verified chain whose CN is not the device id', async () => {
    expect(await refusal(env, 'v-cn', creds.cn)).toBe(5);
    expect(refusalsFor(env, 'v-cn').at(-1)).toMatchObject({ reason: 'cn-mismatch' });
  });

  it('refuses a chain to a CA that was uploaded but never verified (OpenSSL does not trust it)', async () => {
    expect(await refusal(env, 'v-unverified', creds.unverified)).toBe(5);
    expect(refusalsFor(env, 'v-unverified').at(-1)).toMatchObject({ reason: 'untrusted-ca' });
  });

  it('decides a resumed session in JavaScript (its verdict dates from an earlier handshake)', async () => {
    const cred = creds.resume as TestCred;
    const first = await rawConnect(env, 'v-resume', cred);
    expect(first).toMatchObject({ returnCode: 0, reused: false });
    const resumed = await rawConnect(env, 'v-resume', cred, first.session);
    expect(resumed).toMatchObject({ returnCode: 0, reused: true });
    expect(connected('v-resume').map((l) => l.chainVerifiedByTls)).toEqual([true, false]);
  });

  it('leaves self-signed thumbprint devices to the thumbprint check', async () => {
    const c = await connectDevice(env, 'v-thumb', creds.thumb);
    expect(c.connected).toBe(true);
    await c.endAsync();
    expect(connected('v-thumb').at(-1)).toMatchObject({ method: 'thumbprint', chainVerifiedByTls: false });
  });
});
