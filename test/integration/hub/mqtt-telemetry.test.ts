import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestCred } from '../../helpers/pki.ts';
import {
  closed,
  connectDevice,
  eventually,
  nextMessage,
  startTestHub,
  subscribeGranted,
  type TestHub,
} from './helpers.ts';

let t: TestHub;
const creds = new Map<string, TestCred>();
const open: MqttClient[] = [];

/**
 * edge-a ─┬─ child-a1 (edge) ── grand-a1x
 *         └─ child-a2 (edge) ── grand-a2x
 * edge-b ─── leaf-b1
 * solo (no parent)
 */
const TREE: Array<[id: string, edge: boolean, parent?: string]> = [
  ['edge-a', true],
  ['child-a1', true, 'edge-a'],
  ['grand-a1x', false, 'child-a1'],
  ['child-a2', true, 'edge-a'],
  ['grand-a2x', false, 'child-a2'],
  ['edge-b', true],
  ['leaf-b1', false, 'edge-b'],
  ['solo', false],
];

beforeAll(async () => {
  const pki = await makeTestPki();
  t = await startTestHub();
  for (const [id, edge, parentId] of TREE) {
    const cred = await pki.selfSigned(id);
    creds.set(id, cred);
    await t.hub.admin.addDevice({
      deviceId: id,
      auth: { type: 'selfSigned', primaryThumbprint: cred.cert.sha256 },
      edge,
      ...(parentId ? { parentId } : {}),
    });
  }
});

afterAll(async () => {
  await Promise.allSettled(open.map((c) => c.endAsync(true)));
  await t?.cleanup();
});

async function connect(id: string): Promise<MqttClient> {
  const c = await connectDevice(t.hub, id, creds.get(id));
  open.push(c);
  return c;
}

const refusedPublish = (deviceId: string, reason: string) =>
  t.logs.some(
    (l) =>
      l.msg === 'publish refused; closing the connection' && l.deviceId === deviceId && l.reason === reason,
  );

describe('hub telemetry', () => {
  it('stores a QoS 1 message with its property bag before the PUBACK', async () => {
    const c = await connect('solo');
    await c.publishAsync('devices/solo/messages/events/temp=21&%24.ct=application%2Fjson', '{"t":21}', {
      qos: 1,
    });
    // The PUBACK has arrived: the message must already be readable.
    const [m] = await t.hub.admin.messages({ deviceId: 'solo' });
    expect(m).toMatchObject({
      deviceId: 'solo',
      connectionDeviceId: 'solo',
      properties: { temp: '21', '$.ct': 'application/json' },
      payloadText: '{"t":21}',
    });
    expect(Buffer.from(m?.payload ?? '', 'base64').toString()).toBe('{"t":21}');
    expect(Date.parse(m?.receivedAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
  });

  it('stores QoS 0 messages and binary payloads', async () => {
    const c = await connect('solo');
    await c.publishAsync('devices/solo/messages/events/', Buffer.from([0xff, 0x00, 0xfe]), { qos: 0 });
    await eventually(async () => (await t.hub.admin.messages({ deviceId: 'solo' })).length === 2);
    const last = (await t.hub.admin.messages({ deviceId: 'solo' }))[1];
    expect(last?.payload).toBe(Buffer.from([0xff, 0x00, 0xfe]).toString('base64'));
    expect(last?.payloadText).toBeUndefined();
  });

  it('pages messages with an after cursor, ascending', async () => {
    const all = await t.hub.admin.messages({ deviceId: 'solo' });
    const first = all[0];
    const rest = await t.hub.admin.messages({ deviceId: 'solo', after: first?.seq ?? 0 });
    expect(rest.map((m) => m.seq)).toEqual(all.slice(1).map((m) => m.seq));
    expect(await t.hub.admin.messages({ deviceId: 'solo', limit: 1 })).toHaveLength(1);
  });

  it('does not route telemetry to other subscribers', async () => {
    const listener = await connect('leaf-b1');
    expect(await subscribeGranted(listener, ['devices/leaf-b1/messages/devicebound/#'])).toEqual([1]);
    expect(await subscribeGranted(listener, ['#', 'devices/+/messages/events/#'], 0)).toEqual([128, 128]);
    let received = 0;
    listener.on('message', () => received++);
    const c = await connect('solo');
    await c.publishAsync('devices/solo/messages/events/', 'not for you', { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toBe(0);
  });

  it('closes a connection publishing for another device, without affecting other clients', async () => {
    const bystander = await connect('edge-b');
    const bad = await connect('solo');
    const before = (await t.hub.admin.messages({ deviceId: 'leaf-b1' })).length;
    bad.publish('devices/leaf-b1/messages/events/', 'spoof', { qos: 1 });
    await closed(bad);
    await eventually(() => refusedPublish('solo', 'not-on-behalf'));
    expect(await t.hub.admin.messages({ deviceId: 'leaf-b1' })).toHaveLength(before);
    expect(bystander.connected).toBe(true);
    await bystander.publishAsync('devices/edge-b/messages/events/', 'still here', { qos: 1 });
  });

  it('closes a connection publishing outside the telemetry topics', async () => {
    const bad = await connect('solo');
    bad.publish('devices/solo/messages/devicebound/x', 'fake c2d', { qos: 1 });
    await closed(bad);
    await eventually(() => refusedPublish('solo', 'not-telemetry'));
  });

  it('refuses a subscription to another device C2D topic with SUBACK 0x80', async () => {
    const c = await connect('solo');
    const granted = await subscribeGranted(c, [
      'devices/leaf-b1/messages/devicebound/#',
      'devices/solo/messages/devicebound/#',
    ]);
    expect(granted).toEqual([128, 1]);
    expect(c.connected).toBe(true);
  });
});

describe('hub on-behalf-of', () => {
  it('lets an edge device publish for its grandchild (stored with both ids)', async () => {
    const edge = await connect('edge-a');
    await edge.publishAsync('devices/grand-a1x/messages/events/k=v', 'from below', { qos: 1 });
    const [m] = await t.hub.admin.messages({ deviceId: 'grand-a1x' });
    expect(m).toMatchObject({ deviceId: 'grand-a1x', connectionDeviceId: 'edge-a', properties: { k: 'v' } });
  });

  it("refuses an edge device publishing for its sibling's child", async () => {
    const edge = await connect('child-a1');
    await edge.publishAsync('devices/grand-a1x/messages/events/', 'mine', { qos: 1 });
    edge.publish('devices/grand-a2x/messages/events/', 'not mine', { qos: 1 });
    await closed(edge);
    await eventually(() => refusedPublish('child-a1', 'not-on-behalf'));
    expect((await t.hub.admin.messages({ deviceId: 'grand-a2x' })).length).toBe(0);
  });

  it('lets an edge device subscribe for its subtree only', async () => {
    const edge = await connect('child-a2');
    const granted = await subscribeGranted(edge, [
      'devices/grand-a2x/messages/devicebound/#',
      'devices/grand-a1x/messages/devicebound/#',
      'devices/edge-a/messages/devicebound/#',
    ]);
    expect(granted).toEqual([1, 128, 128]);
  });

  it('follows re-parenting at once', async () => {
    const edge = await connect('edge-b');
    await t.hub.admin.addDevice({
      deviceId: 'mover',
      auth: { type: 'selfSigned', primaryThumbprint: creds.get('solo')?.cert.sha256 ?? '' },
      parentId: 'edge-b',
    });
    await edge.publishAsync('devices/mover/messages/events/', 'one', { qos: 1 });
    await t.hub.admin.updateDevice('mover', { parentId: 'edge-a' });
    edge.publish('devices/mover/messages/events/', 'two', { qos: 1 });
    await closed(edge);
    const stored = await t.hub.admin.messages({ deviceId: 'mover' });
    expect(stored.map((m) => m.payloadText)).toEqual(['one']);
  });

  it('delivers C2D for a grandchild to the edge device subscribed for it', async () => {
    const edge = await connect('edge-a');
    await edge.subscribeAsync('devices/grand-a1x/messages/devicebound/#', { qos: 1 });
    const arriving = nextMessage(edge);
    const { id } = await t.hub.admin.sendC2d('grand-a1x', 'hello grandchild');
    const m = await arriving;
    expect(m.topic.startsWith('devices/grand-a1x/messages/devicebound/')).toBe(true);
    expect(m.topic).toContain(`%24.mid=${id}`);
    expect(m.payload.toString()).toBe('hello grandchild');
  });
});
