import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCred } from '../../helpers/pki.ts';
import {
  closed,
  connectDevice,
  eventually,
  type GatewayEnv,
  nextMessage,
  startGatewayEnv,
  subscribeGranted,
  thumbprintAuth,
} from './helpers.ts';

let env: GatewayEnv;
const c: Record<string, TestCred> = {};

beforeAll(async () => {
  env = await startGatewayEnv();
  for (const id of ['s-1', 's-2', 'child-gw', 'leaf-1']) c[id] = await env.pki.selfSigned(id);
  await env.addDevice('s-1', thumbprintAuth(c['s-1'] as TestCred));
  await env.addDevice('s-2', thumbprintAuth(c['s-2'] as TestCred));
  // A child gateway (edge device under this one) with a sensor of its own.
  await env.addDevice('child-gw', thumbprintAuth(c['child-gw'] as TestCred), { edge: true });
  await env.addDevice('leaf-1', thumbprintAuth(c['leaf-1'] as TestCred), { parentId: 'child-gw' });
  await env.sync();
});

afterAll(async () => {
  await env?.close();
});

const messagesAt = async (deviceId: string) => env.hub.admin.messages({ deviceId });

describe('topics through the gateway, end to end with the hub', () => {
  it('forwards QoS 1 telemetry to the hub on behalf of the device, property bag intact', async () => {
    const s1 = await connectDevice(env, 's-1', c['s-1']);
    await s1.publishAsync('devices/s-1/messages/events/temp=21&unit=C', 'hello hub', { qos: 1 });
    await eventually(async () => (await messagesAt('s-1')).length > 0);
    const [m] = await messagesAt('s-1');
    expect(m).toMatchObject({
      deviceId: 's-1',
      connectionDeviceId: 'gw-1',
      payloadText: 'hello hub',
      properties: expect.objectContaining({ temp: '21', unit: 'C' }),
    });
    await s1.endAsync();
  });

  it('closes a device that publishes another device’s telemetry; nothing reaches the hub', async () => {
    const s1 = await connectDevice(env, 's-1', c['s-1']);
    s1.publish('devices/s-2/messages/events/', 'spoof', { qos: 1 });
    await closed(s1);
    expect(await messagesAt('s-2')).toEqual([]);
    expect(env.logs.some((l) => l.deviceId === 's-1' && l.reason === 'not-on-behalf')).toBe(true);
  });

  it('lets a child gateway publish for its own device and subscribe to its C2D, not for others', async () => {
    const gw = await connectDevice(env, 'child-gw', c['child-gw']);
    expect(
      await subscribeGranted(gw, [
        'devices/leaf-1/messages/devicebound/#',
        'devices/s-1/messages/devicebound/#',
      ]),
    ).toEqual([1, 128]);
    await gw.publishAsync('devices/leaf-1/messages/events/', 'via child', { qos: 1 });
    await eventually(async () => (await messagesAt('leaf-1')).length > 0);
    expect((await messagesAt('leaf-1'))[0]).toMatchObject({ deviceId: 'leaf-1', connectionDeviceId: 'gw-1' });
    const received = nextMessage(gw);
    await env.hub.admin.sendC2d('leaf-1', 'for leaf');
    expect((await received).topic.startsWith('devices/leaf-1/messages/devicebound/')).toBe(true);
    await gw.endAsync();
  });

  it('delivers C2D from the hub to the addressed device only; devices never see each other’s telemetry', async () => {
    const s1 = await connectDevice(env, 's-1', c['s-1']);
    const s2 = await connectDevice(env, 's-2', c['s-2']);
    const seenByS2: string[] = [];
    s2.on('message', (topic) => seenByS2.push(topic));
    expect(await subscribeGranted(s1, ['devices/s-1/messages/devicebound/#'])).toEqual([1]);
    expect(
      await subscribeGranted(s2, ['devices/s-2/messages/devicebound/#', '#', 'devices/+/messages/events/#']),
    ).toEqual([1, 128, 128]);
    const toS1 = nextMessage(s1);
    await env.hub.admin.sendC2d('s-1', 'c2d for s-1', { k: 'v' });
    const got = await toS1;
    expect(got.payload.toString()).toBe('c2d for s-1');
    expect(got.topic).toMatch(/^devices\/s-1\/messages\/devicebound\/.*k=v/);
    await s1.publishAsync('devices/s-1/messages/events/', 'private', { qos: 1 });
    await eventually(async () => (await messagesAt('s-1')).some((m) => m.payloadText === 'private'));
    expect(seenByS2).toEqual([]);
    await s1.endAsync();
    await s2.endAsync();
  });
});
