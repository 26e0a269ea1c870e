import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Upstream } from '../../../src/upstream/index.ts';
import { makeCred } from '../../helpers/pki.ts';
import { payloadNumber, waitForMessages } from '../upstream/helpers.ts';
import { connectDevice, type EstEnv, eventually, GATEWAY_ID, startEstEnv } from './helpers.ts';

describe('identity renewal over EST while messages are queued', () => {
  let env: EstEnv;
  beforeAll(async () => {
    env = await startEstEnv();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('enrolled with the bootstrap certificate on first start, and connected upstream with it', async () => {
    const identity = env.gw.identityCertificate();
    expect(identity?.issuerCn).toBe('Gatehouse Hub EST CA');
    expect(identity?.subjectCn).toBe(GATEWAY_ID);
    await eventually(() => env.gw.forwarder.state() === 'connected', 15_000, 'upstream connected');
  });

  it('hub down → queue → renew identity → hub up: every message arrives, sent with the new identity', async () => {
    const sensor = await makeCred('self-signed-device', 'sensor-1', undefined);
    await env.hub.admin.addDevice({
      deviceId: 'sensor-1',
      parentId: GATEWAY_ID,
      auth: { type: 'selfSigned', primaryThumbprint: sensor.cert.sha256 },
    });
    expect(await env.gw.registry.syncNow?.()).toBe(true);
    const client = await connectDevice(env.gw.port, env.pki.root.cert.pem, 'sensor-1', sensor);
    const topic = 'devices/sensor-1/messages/events/';
    const upstream = env.gw.forwarder as Upstream;
    try {
      await client.publishAsync(topic, JSON.stringify({ n: 0 }), { qos: 1 });
      expect((await waitForMessages(env.hub, 1, 15_000, 'sensor-1')).length).toBe(1);

      await env.relay.down();
      await eventually(() => env.gw.forwarder.state() !== 'connected', 15_000, 'upstream down');
      const N = 20;
      for (let n = 1; n <= N; n++) await client.publishAsync(topic, JSON.stringify({ n }), { qos: 1 });
      expect(upstream.stats().queued).toBe(N);

      const before = env.gw.identityCertificate();
      const renewed = await env.gw.renewIdentity();
      expect(renewed.serialHex).not.toBe(before?.serialHex);
      expect(upstream.stats().queued).toBe(N);
      // Only the new certificate is accepted from now on, so arrival proves it was used.
      await env.hub.admin.updateDevice(GATEWAY_ID, {
        auth: { type: 'selfSigned', primaryThumbprint: renewed.sha256 },
      });

      await env.relay.up();
      const got = await waitForMessages(env.hub, N + 1, 30_000, 'sensor-1');
      expect(got.map(payloadNumber).sort((a, b) => a - b)).toEqual(
        Array.from({ length: N + 1 }, (_, i) => i),
      );
      // The hub stores before it PUBACKs; the gateway's delete on that PUBACK commits just after.
      await eventually(() => upstream.stats().queued === 0, 10_000, 'store emptied after the PUBACKs');
      // Registry sync (the scope API, HTTPS) also presents the renewed identity: the old one is gone.
      expect(await env.gw.registry.syncNow?.()).toBe(true);
    } finally {
      await client.endAsync();
    }
  });

  it('renews again with the renewed identity; only the newest is then needed upstream', async () => {
    const previous = env.gw.identityCertificate();
    const next = await env.gw.renewIdentity();
    expect(next.serialHex).not.toBe(previous?.serialHex);
    const record = await env.hub.admin.getDevice(GATEWAY_ID);
    expect(record.authentication).toMatchObject({
      primaryThumbprint: next.sha256,
      secondaryThumbprint: previous?.sha256,
    });
    await env.hub.admin.updateDevice(GATEWAY_ID, {
      auth: { type: 'selfSigned', primaryThumbprint: next.sha256 },
    });
    expect(await env.gw.registry.syncNow?.()).toBe(true);
    await eventually(() => env.gw.forwarder.state() === 'connected', 15_000, 'upstream reconnected');
  });

  it('a refused renewal keeps the identity and shows in /health and metrics until a renewal succeeds', async () => {
    const current = env.gw.identityCertificate();
    await env.hub.admin.updateDevice(GATEWAY_ID, { status: 'disabled' });
    await expect(env.gw.renewIdentity()).rejects.toThrow(/EST simplereenroll refused/);
    expect(env.gw.identityCertificate()?.serialHex).toBe(current?.serialHex);
    const body = env.gw.health().body as {
      certificates?: Array<{ certificate: string; renewalError?: string }>;
    };
    expect(body.certificates?.find((c) => c.certificate === 'identity')?.renewalError).toMatch(/disabled/);
    let metrics = await env.gw.metrics.registry.metrics();
    expect(metrics).toMatch(/gatehouse_certificate_renewal_failing\{certificate="identity"\} 1/);
    expect(metrics).toMatch(/gatehouse_certificate_renewal_failures_total\{certificate="identity"\} 1/);
    expect(
      env.logs.some((l) => l.msg === 'identity certificate renewal failed; keeping the current one'),
    ).toBe(true);

    await env.hub.admin.updateDevice(GATEWAY_ID, { status: 'enabled' });
    await env.gw.renewIdentity();
    metrics = await env.gw.metrics.registry.metrics();
    expect(metrics).toMatch(/gatehouse_certificate_renewal_failing\{certificate="identity"\} 0/);
    const after = env.gw.health().body as { certificates?: Array<{ certificate: string }> };
    expect(after.certificates?.some((c) => c.certificate === 'identity') ?? false).toBe(false);
  });
});
