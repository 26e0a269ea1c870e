import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';
import { deviceRecord, tick } from './fakes.ts';
import { type Harness, makeHarness } from './setup.ts';

let pki: TestPki;
let devA: TestCred;
let devB: TestCred;

beforeAll(async () => {
  pki = await makeTestPki();
  devA = await pki.selfSigned('dev-a');
  devB = await pki.selfSigned('dev-b');
});

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const selfSigned = (cred: TestCred) => ({ type: 'selfSigned' as const, primaryThumbprint: cred.cert.sha256 });
const refusals = (harness: Harness) => harness.logs.filter((l) => l.msg === 'device refused');

describe('CONNECT authentication hooks', () => {
  it('accepts a registered thumbprint device and logs nothing at info', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    const { returnCode } = await h.connect([devA.cert], { clientId: 'dev-a' });
    expect(returnCode).toBe(0);
    expect(h.metrics.stats.authAccepted).toBe(1);
    expect(h.logs).toEqual([]);
    expect(h.broker.connectedCount()).toBe(1);
  });

  it('refuses an unknown device with CONNACK 5 and one log line naming device, reason and thumbprint', async () => {
    h = await makeHarness();
    const { client, returnCode } = await h.connect([devA.cert], { clientId: 'dev-a' });
    expect(returnCode).toBe(5);
    expect(await client.waitClosed()).toBe(true);
    expect(refusals(h)).toHaveLength(1);
    expect(refusals(h)[0]).toMatchObject({
      deviceId: 'dev-a',
      reason: 'unknown-device',
      thumbprint: devA.cert.sha256,
    });
    // The on-demand lookup happened once, and no key material is in the log.
    expect(h.registry.lookups).toEqual(['dev-a']);
    expect(JSON.stringify(h.logs)).not.toContain('PRIVATE KEY');
    expect(await h.metrics.registry.getSingleMetricAsString('gatehouse_auth_refusals_total')).toContain(
      'reason="unknown-device"} 1',
    );
  });

  it('finds a device by an on-demand lookup on a cache miss', async () => {
    h = await makeHarness();
    h.registry.remote.set('dev-a', deviceRecord('dev-a', selfSigned(devA)));
    const { returnCode } = await h.connect([devA.cert], { clientId: 'dev-a' });
    expect(returnCode).toBe(0);
    expect(h.registry.lookups).toEqual(['dev-a']);
  });

  it('refuses when the on-demand lookup fails, without crashing', async () => {
    h = await makeHarness();
    h.registry.lookupError = new Error('upstream unreachable');
    const { returnCode } = await h.connect([devA.cert], { clientId: 'dev-a' });
    expect(returnCode).toBe(5);
    expect(refusals(h)[0]).toMatchObject({ reason: 'registry-unavailable' });
  });

  it('refuses a client without a certificate before any registry lookup', async () => {
    h = await makeHarness();
    const { returnCode } = await h.connect([], { clientId: 'dev-a' });
    expect(returnCode).toBe(5);
    expect(refusals(h)[0]).toMatchObject({ reason: 'no-client-cert' });
    expect(h.registry.lookups).toEqual([]);
  });

  it('refuses a client id that is not a device id without a lookup', async () => {
    h = await makeHarness();
    const { returnCode } = await h.connect([devA.cert], { clientId: 'bad/id#' });
    expect(returnCode).toBe(5);
    expect(h.registry.lookups).toEqual([]);
  });

  it('refuses a connection that is not TLS', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    const { returnCode } = await h.connect(undefined, { clientId: 'dev-a' });
    expect(returnCode).toBe(5);
    expect(refusals(h)[0]).toMatchObject({ reason: 'not-tls' });
  });

  it('refuses a certificate registered for another device', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    const { returnCode } = await h.connect([devB.cert], { clientId: 'dev-a' });
    expect(returnCode).toBe(5);
    expect(refusals(h)[0]).toMatchObject({ reason: 'thumbprint-mismatch', thumbprint: devB.cert.sha256 });
  });

  it('refuses a username naming another device', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    const { returnCode } = await h.connect([devA.cert], {
      clientId: 'dev-a',
      username: 'hub.example/dev-b/?api-version=2021-04-12',
    });
    expect(returnCode).toBe(5);
    expect(refusals(h)[0]).toMatchObject({ reason: 'username-mismatch' });
  });

  it('refuses a disabled device', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA), { status: 'disabled' }));
    const { returnCode } = await h.connect([devA.cert], { clientId: 'dev-a' });
    expect(returnCode).toBe(5);
    expect(refusals(h)[0]).toMatchObject({ reason: 'disabled' });
  });

  it('refuses a keep-alive above the maximum (and below the minimum)', async () => {
    h = await makeHarness({ limits: { keepaliveMinSecs: 5, keepaliveMaxSecs: 100 } });
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    expect((await h.connect([devA.cert], { clientId: 'dev-a', keepalive: 101 })).returnCode).toBe(5);
    expect((await h.connect([devA.cert], { clientId: 'dev-a', keepalive: 0 })).returnCode).toBe(5);
    expect((await h.connect([devA.cert], { clientId: 'dev-a', keepalive: 100 })).returnCode).toBe(0);
    expect(refusals(h).map((l) => l.reason)).toEqual(['keepalive-out-of-range', 'keepalive-out-of-range']);
    expect(await h.metrics.registry.getSingleMetricAsString('gatehouse_limit_refusals_total')).toContain(
      'limit="keepalive"} 2',
    );
  });

  it('refuses a will the device could not publish, accepts one it could', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    const other = await h.connect([devA.cert], {
      clientId: 'dev-a',
      will: { topic: 'devices/dev-b/messages/events/', payload: Buffer.from('x'), qos: 0, retain: false },
    });
    expect(other.returnCode).toBe(5);
    expect(refusals(h)[0]).toMatchObject({ reason: 'will-not-authorized' });
    const own = await h.connect([devA.cert], {
      clientId: 'dev-a',
      will: {
        topic: 'devices/dev-a/messages/events/will=1',
        payload: Buffer.from('gone'),
        qos: 1,
        retain: true,
      },
    });
    expect(own.returnCode).toBe(0);
    // Unclean close: the will is published on the device's behalf, through the same forwarding rules.
    own.client.end();
    for (let i = 0; i < 50 && h.forwarder.enqueued.length === 0; i++) await tick(10);
    expect(h.forwarder.enqueued[0]).toMatchObject({ deviceId: 'dev-a', connectionDeviceId: 'dev-a', qos: 1 });
    expect(h.forwarder.enqueued[0]?.payload.toString()).toBe('gone');
  });

  it('drops the live connection of a device disabled or removed at the next sync', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    const { client, returnCode } = await h.connect([devA.cert], { clientId: 'dev-a' });
    expect(returnCode).toBe(0);
    h.registry.byId.delete('dev-a');
    h.registry.emit({ disabledOrRemoved: ['dev-a'] });
    expect(await client.waitClosed()).toBe(true);
    expect(h.logs.some((l) => l.deviceId === 'dev-a' && l.reason === 'disabled-or-removed')).toBe(true);
  });

  it('re-checks a live connection when its record changes (thumbprint rotated away)', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    const { client } = await h.connect([devA.cert], { clientId: 'dev-a' });
    // Updated but still accepting: the connection stays.
    h.registry.add(deviceRecord('dev-a', { ...selfSigned(devB), secondaryThumbprint: devA.cert.sha1 }));
    h.registry.emit({ updated: ['dev-a'] });
    await tick();
    expect(client.closed).toBe(false);
    h.registry.add(deviceRecord('dev-a', selfSigned(devB)));
    h.registry.emit({ updated: ['dev-a'] });
    expect(await client.waitClosed()).toBe(true);
    expect(h.logs.some((l) => l.reason === 'thumbprint-mismatch')).toBe(true);
  });

  it('asks upstream once when a cached record refuses the certificate (thumbprint rotated at the hub)', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    h.registry.remote.set('dev-a', deviceRecord('dev-a', selfSigned(devB)));
    const { returnCode } = await h.connect([devB.cert], { clientId: 'dev-a' });
    expect(returnCode).toBe(0);
    expect(h.registry.refreshes).toEqual(['dev-a']);
    // Still refused when the fresh record agrees with the cache: one refresh, one log line.
    const again = await h.connect([devA.cert], { clientId: 'dev-a' });
    expect(again.returnCode).toBe(5);
    expect(h.registry.refreshes).toEqual(['dev-a', 'dev-a']);
    expect(refusals(h)).toHaveLength(1);
  });

  it('re-checks CA-authenticated connections when the verified CA set changes', async () => {
    h = await makeHarness();
    const caDev = await pki.device('ca-dev');
    h.registry.add(deviceRecord('ca-dev', { type: 'certificateAuthority' }));
    h.registry.cas = [pki.intermediate.cert];
    const { client, returnCode } = await h.connect([caDev.cert, pki.intermediate.cert], {
      clientId: 'ca-dev',
    });
    expect(returnCode).toBe(0);
    h.registry.emit({ casChanged: true });
    await tick();
    expect(client.closed).toBe(false);
    h.registry.cas = [];
    h.registry.emit({ casChanged: true });
    expect(await client.waitClosed()).toBe(true);
    expect(h.logs.some((l) => l.deviceId === 'ca-dev' && l.reason === 'untrusted-ca')).toBe(true);
  });

  it('refuses MQTT 5, which aedes 1.2 does not speak, before authentication', async () => {
    h = await makeHarness();
    h.registry.add(deviceRecord('dev-a', selfSigned(devA)));
    const { client, returnCode } = await h.connect([devA.cert], { clientId: 'dev-a', protocolVersion: 5 });
    expect(returnCode).toBe(1);
    expect(await client.waitClosed()).toBe(true);
    expect(h.metrics.stats.authAccepted).toBe(0);
  });
});
