import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCred, makeTestPki, type TestCred } from '../../helpers/pki.ts';
import {
  closed,
  connectDevice,
  type GatewayEnv,
  rawConnect,
  refusal,
  refusalsFor,
  startGatewayEnv,
  thumbprintAuth,
} from './helpers.ts';

// One hub + gateway for the whole file; each case uses its own device id.
let env: GatewayEnv;
const creds: Record<string, TestCred> = {};

beforeAll(async () => {
  env = await startGatewayEnv();
  const { pki } = env;
  const day = 86_400_000;
  // Thumbprint devices.
  creds.primary = await pki.selfSigned('t-primary');
  creds.secondary = await pki.selfSigned('t-secondary');
  creds.secondaryOld = await pki.selfSigned('t-secondary');
  creds.sha1 = await pki.selfSigned('t-sha1');
  creds.expired = await pki.selfSigned('t-expired', { now: new Date(Date.now() - 10 * day), days: 2 });
  creds.future = await pki.selfSigned('t-future', { now: new Date(Date.now() + 10 * day), days: 2 });
  creds.disabled = await pki.selfSigned('t-disabled');
  creds.stranger = await pki.selfSigned('t-primary');
  await env.addDevice('t-primary', thumbprintAuth(creds.primary));
  await env.addDevice('t-secondary', thumbprintAuth(creds.secondaryOld, creds.secondary.cert.sha256));
  await env.addDevice('t-sha1', { type: 'selfSigned', primaryThumbprint: creds.sha1.cert.sha1 });
  await env.addDevice('t-expired', thumbprintAuth(creds.expired));
  await env.addDevice('t-future', thumbprintAuth(creds.future));
  await env.addDevice('t-disabled', thumbprintAuth(creds.disabled), { disabled: true });
  await env.addDevice('t-outside', thumbprintAuth(creds.primary), { parentId: null });

  // CA devices: the test intermediate is uploaded and verified at the hub; a second CA only uploaded.
  await env.verifyCa('test-intermediate', pki.intermediate);
  const unverified = await makeCred('intermediate', 'Unverified CA', pki.root, { chainExtra: [] });
  await env.hub.admin.uploadCa('unverified', unverified.cert.pem);
  const unknown = await makeCred('root', 'Unknown Root', undefined);
  for (const id of ['c-ok', 'c-cn', 'c-unknown', 'c-unverified', 'c-eku', 'c-leaf-ca', 'c-expired']) {
    await env.addDevice(id, { type: 'certificateAuthority' });
  }
  creds.caOk = await pki.device('c-ok');
  creds.caCn = await pki.device('someone-else');
  creds.caUnknown = await makeCred('client', 'c-unknown', unknown);
  creds.caUnverified = await makeCred('client', 'c-unverified', unverified, {
    chainExtra: [unverified.cert],
  });
  creds.caEku = await makeCred('server', 'c-eku', pki.edgeCa, {
    chainExtra: [pki.edgeCa.cert, pki.intermediate.cert],
  });
  creds.caLeafCa = await makeCred('edge-ca', 'c-leaf-ca', pki.intermediate, {
    chainExtra: [pki.intermediate.cert],
  });
  // A CA issued in the past, so a certificate under it can have expired already.
  const old = await makeTestPki({ now: new Date(Date.now() - 20 * day) });
  await env.verifyCa('old-intermediate', old.intermediate);
  creds.caExpired = await old.device('c-expired', { now: new Date(Date.now() - 10 * day), days: 2 });
  await env.sync();
});

afterAll(async () => {
  await env?.close();
});

describe('device authentication at the gateway, over real TLS, against the hub’s registry', () => {
  it.each([
    ['primary SHA-256 thumbprint', 't-primary', 'primary'],
    ['secondary thumbprint', 't-secondary', 'secondary'],
    ['SHA-1 thumbprint', 't-sha1', 'sha1'],
    ['a chain to a verified CA', 'c-ok', 'caOk'],
  ])('accepts %s', async (_name, id, cred) => {
    const c = await connectDevice(env, id, creds[cred as string]);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it.each([
    ['an unregistered thumbprint', 't-primary', 'stranger', 'thumbprint-mismatch'],
    ['an expired certificate', 't-expired', 'expired', 'cert-expired'],
    ['a not-yet-valid certificate', 't-future', 'future', 'cert-not-yet-valid'],
    ['a disabled device', 't-disabled', 'disabled', 'disabled'],
    ['a CN that is not the device id', 'c-cn', 'caCn', 'cn-mismatch'],
    ['an unknown CA', 'c-unknown', 'caUnknown', 'untrusted-ca'],
    ['a CA uploaded but never verified', 'c-unverified', 'caUnverified', 'untrusted-ca'],
    ['a certificate without clientAuth', 'c-eku', 'caEku', 'wrong-eku'],
    ['a CA certificate used as the leaf', 'c-leaf-ca', 'caLeafCa', 'leaf-is-ca'],
    ['an expired CA-signed certificate', 'c-expired', 'caExpired', 'cert-expired'],
  ])('refuses %s with CONNACK 5 and one log line naming the reason', async (_name, id, cred, reason) => {
    const before = refusalsFor(env, id).length;
    expect(await refusal(env, id, creds[cred as string])).toBe(5);
    const lines = refusalsFor(env, id).slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ reason, thumbprint: creds[cred as string]?.cert.sha256 });
    expect(JSON.stringify(lines[0])).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
  });

  it('refuses a client without a certificate', async () => {
    expect(await refusal(env, 't-primary', undefined)).toBe(5);
    expect(refusalsFor(env, 't-primary').at(-1)).toMatchObject({ reason: 'no-client-cert' });
  });

  it('refuses a username naming another device', async () => {
    const code = await refusal(env, 't-primary', creds.primary, {
      username: 'localhost/t-sha1/?api-version=2021-04-12',
    });
    expect(code).toBe(5);
    expect(refusalsFor(env, 't-primary').at(-1)).toMatchObject({ reason: 'username-mismatch' });
  });

  it('refuses a device registered at the hub but outside this gateway’s scope', async () => {
    expect(await refusal(env, 't-outside', creds.primary)).toBe(5);
    expect(refusalsFor(env, 't-outside').at(-1)).toMatchObject({ reason: 'unknown-device' });
  });

  it('drops a connected device removed at the hub once the registry syncs', async () => {
    const cred = await env.pki.selfSigned('t-removed');
    await env.addDevice('t-removed', thumbprintAuth(cred));
    await env.sync();
    const c = await connectDevice(env, 't-removed', cred);
    await env.hub.admin.removeDevice('t-removed');
    await env.sync();
    await closed(c);
    expect(env.logs.some((l) => l.deviceId === 't-removed' && l.reason === 'disabled-or-removed')).toBe(true);
    expect(await refusal(env, 't-removed', cred)).toBe(5);
  });

  it('drops a connected device disabled at the hub once the registry syncs', async () => {
    const cred = await env.pki.selfSigned('t-disable-live');
    await env.addDevice('t-disable-live', thumbprintAuth(cred));
    await env.sync();
    const c = await connectDevice(env, 't-disable-live', cred);
    await env.hub.admin.updateDevice('t-disable-live', { status: 'disabled' });
    await env.sync();
    await closed(c);
    expect(await refusal(env, 't-disable-live', cred)).toBe(5);
  });

  it('fetches a device added at the hub after the last sync on demand', async () => {
    const cred = await env.pki.selfSigned('t-late');
    await env.addDevice('t-late', thumbprintAuth(cred));
    const c = await connectDevice(env, 't-late', cred);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('refreshes a cached record on demand when the device’s thumbprint was rotated at the hub', async () => {
    const oldCred = await env.pki.selfSigned('t-rotated');
    const newCred = await env.pki.selfSigned('t-rotated');
    await env.addDevice('t-rotated', thumbprintAuth(oldCred));
    await env.sync();
    await env.hub.admin.updateDevice('t-rotated', { auth: thumbprintAuth(newCred) });
    const c = await connectDevice(env, 't-rotated', newCred);
    expect(c.connected).toBe(true);
    await c.endAsync();
    const cached = env.gw.registry.get('t-rotated')?.authentication;
    expect(cached?.type === 'selfSigned' && cached.primaryThumbprint).toBe(newCred.cert.sha256);
    expect(await refusal(env, 't-rotated', oldCred)).toBe(5);
  });

  it('accepts a CA device that resumes its TLS session (only the leaf is restored) via remembered intermediates', async () => {
    const { pki } = env;
    // The hub verified the root only, so the device's own intermediate is needed to build the path.
    const inter = await makeCred('intermediate', 'Resumption Intermediate', pki.root);
    await env.verifyCa('test-root', pki.root);
    await env.addDevice('c-resume', { type: 'certificateAuthority' });
    await env.sync();
    const cred = await makeCred('client', 'c-resume', inter, { chainExtra: [inter.cert] });
    const first = await rawConnect(env, 'c-resume', cred);
    expect(first).toMatchObject({ returnCode: 0, reused: false });
    expect(first.session).toBeDefined();
    const resumed = await rawConnect(env, 'c-resume', cred, first.session);
    expect(resumed).toMatchObject({ returnCode: 0, reused: true });
  });
});
