import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseError } from '../../../src/errors.ts';
import { makeTestPki, type TestCred } from '../../helpers/pki.ts';
import { deviceRecord, type TestMqttClient, tick } from './fakes.ts';
import { type Harness, makeHarness } from './setup.ts';

let devA: TestCred;
let devB: TestCred;
let edge: TestCred;
let child: TestCred;

beforeAll(async () => {
  const pki = await makeTestPki();
  [devA, devB, edge, child] = await Promise.all([
    pki.selfSigned('dev-a'),
    pki.selfSigned('dev-b'),
    pki.selfSigned('edge-1'),
    pki.selfSigned('child-1'),
  ]);
});

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const auth = (cred: TestCred) => ({ type: 'selfSigned' as const, primaryThumbprint: cred.cert.sha256 });

async function setup(opts: Parameters<typeof makeHarness>[0] = {}): Promise<void> {
  h = await makeHarness(opts);
  h.registry
    .add(deviceRecord('dev-a', auth(devA)))
    .add(deviceRecord('dev-b', auth(devB)))
    .add(deviceRecord('edge-1', auth(edge), { edge: true }))
    .add(deviceRecord('child-1', auth(child), { parentId: 'edge-1' }));
}

async function connected(
  cred: TestCred,
  id: string,
  extra: Record<string, unknown> = {},
): Promise<TestMqttClient> {
  const { client, returnCode } = await h.connect([cred.cert], { clientId: id, ...extra });
  expect(returnCode).toBe(0);
  return client;
}

/** dev-a connects with a persistent session, subscribes to its C2D and goes offline. */
async function subscribedThenOffline(): Promise<void> {
  const a = await connected(devA, 'dev-a', { clean: false });
  a.send({
    cmd: 'subscribe',
    messageId: 1,
    subscriptions: [{ topic: 'devices/dev-a/messages/devicebound/#', qos: 1 }],
  });
  await a.waitFor((p) => p.cmd === 'suback');
  a.end();
  await tick(50);
}

let nextId = 1;
const publish = (c: TestMqttClient, topic: string, qos: 0 | 1 | 2, payload = 'hello', retain = false) => {
  const messageId = nextId++;
  c.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain, dup: false, messageId });
  return messageId;
};

describe('PUBLISH authorization and forwarding', () => {
  it('PUBACKs QoS 1 telemetry only after the forwarder stored it', async () => {
    await setup();
    let release: () => void = () => {};
    h.forwarder.enqueueImpl = () => new Promise<void>((r) => (release = r));
    const c = await connected(devA, 'dev-a');
    const id = publish(c, 'devices/dev-a/messages/events/a=1', 1);
    await tick(50);
    expect(c.received.some((p) => p.cmd === 'puback')).toBe(false);
    release();
    const ack = await c.waitFor((p) => p.cmd === 'puback');
    expect(ack).toMatchObject({ messageId: id });
    expect(h.forwarder.enqueued[0]).toMatchObject({
      deviceId: 'dev-a',
      connectionDeviceId: 'dev-a',
      topic: 'devices/dev-a/messages/events/a=1',
      qos: 1,
    });
    expect(h.metrics.stats.telemetryQos1).toBe(1);
  });

  it('does not PUBACK when the store is full: the connection closes and the refusal is counted', async () => {
    await setup();
    h.forwarder.enqueueImpl = async () => {
      throw new GatehouseError('GH_ERR_STORE_FULL', 'full');
    };
    const c = await connected(devA, 'dev-a');
    publish(c, 'devices/dev-a/messages/events/', 1);
    expect(await c.waitClosed()).toBe(true);
    expect(c.received.some((p) => p.cmd === 'puback')).toBe(false);
    expect(await h.metrics.registry.getSingleMetricAsString('gatehouse_publish_refusals_total')).toContain(
      'reason="store-full"} 1',
    );
    expect(h.logs.some((l) => l.reason === 'store-full')).toBe(true);
  });

  it('forwards QoS 0 best effort', async () => {
    await setup();
    const c = await connected(devA, 'dev-a');
    publish(c, 'devices/dev-a/messages/events/', 0, 'q0');
    for (let i = 0; i < 50 && h.forwarder.bestEffort.length === 0; i++) await tick(10);
    expect(h.forwarder.bestEffort[0]?.payload.toString()).toBe('q0');
    expect(h.forwarder.enqueued).toEqual([]);
  });

  it.each([
    ['another device’s telemetry', 'devices/dev-b/messages/events/', 1, 'not-on-behalf'],
    ['a non-telemetry topic', 'foo/bar', 1, 'not-telemetry'],
    ['a C2D topic', 'devices/dev-a/messages/devicebound/x=1', 0, 'not-telemetry'],
    ['QoS 2', 'devices/dev-a/messages/events/', 2, 'qos2-unsupported'],
    ['an undecodable property bag', 'devices/dev-a/messages/events/a=%E0%A4%A', 1, 'bad-property-bag'],
  ] as const)(
    'refuses %s by closing the connection, nothing forwarded',
    async (_name, topic, qos, reason) => {
      await setup();
      const c = await connected(devA, 'dev-a');
      publish(c, topic, qos);
      expect(await c.waitClosed()).toBe(true);
      expect(h.forwarder.enqueued).toEqual([]);
      expect(h.forwarder.bestEffort).toEqual([]);
      expect(h.logs.some((l) => l.reason === reason && l.deviceId === 'dev-a')).toBe(true);
    },
  );

  it('lets an edge device publish for a device in its subtree, not for others', async () => {
    await setup();
    const e = await connected(edge, 'edge-1');
    publish(e, 'devices/child-1/messages/events/', 1);
    await e.waitFor((p) => p.cmd === 'puback');
    expect(h.forwarder.enqueued[0]).toMatchObject({ deviceId: 'child-1', connectionDeviceId: 'edge-1' });
    publish(e, 'devices/dev-a/messages/events/', 1);
    expect(await e.waitClosed()).toBe(true);
    expect(h.forwarder.enqueued).toHaveLength(1);
  });

  it('never retains telemetry: forwards it marked mqtt-retain, a later subscriber gets nothing', async () => {
    await setup();
    const a = await connected(devA, 'dev-a');
    publish(a, 'devices/dev-a/messages/events/k=v', 1, 'r', true);
    await a.waitFor((p) => p.cmd === 'puback');
    expect(h.forwarder.enqueued[0]?.topic).toBe('devices/dev-a/messages/events/k=v&mqtt-retain=true');
    a.send({
      cmd: 'subscribe',
      messageId: 77,
      subscriptions: [{ topic: 'devices/dev-a/messages/devicebound/#', qos: 1 }],
    });
    await a.waitFor((p) => p.cmd === 'suback');
    await tick(50);
    expect(a.received.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('closes a connection that sends a packet above the size limit, before buffering it', async () => {
    await setup({ limits: { maxPacketBytes: 1024 } });
    const c = await connected(devA, 'dev-a');
    publish(c, 'devices/dev-a/messages/events/', 1, 'x'.repeat(900));
    await c.waitFor((p) => p.cmd === 'puback');
    // Header announcing 100 MB; only the header is sent.
    c.sendRaw(Buffer.from([0x32, 0x80, 0x80, 0x80, 0x30]));
    expect(await c.waitClosed()).toBe(true);
    expect(await h.metrics.registry.getSingleMetricAsString('gatehouse_limit_refusals_total')).toContain(
      'limit="packet-size"} 1',
    );
  });
});

describe('SUBSCRIBE authorization and C2D', () => {
  it('grants the device its own C2D filter and refuses everything else with 0x80', async () => {
    await setup();
    const a = await connected(devA, 'dev-a');
    a.send({
      cmd: 'subscribe',
      messageId: 5,
      subscriptions: [
        { topic: 'devices/dev-a/messages/devicebound/#', qos: 2 },
        { topic: 'devices/dev-b/messages/devicebound/#', qos: 1 },
        { topic: '#', qos: 0 },
        { topic: 'devices/dev-a/messages/events/#', qos: 0 },
      ],
    });
    const suback = await a.waitFor((p) => p.cmd === 'suback');
    // aedes 1.2 echoes the requested QoS in SUBACK; C2D is always published at QoS 1, so QoS 2 is never used.
    expect(suback).toMatchObject({ granted: [2, 128, 128, 128] });
    expect([...h.forwarder.watches]).toEqual([['dev-a', 1]]);
    expect(await h.metrics.registry.getSingleMetricAsString('gatehouse_subscribe_refusals_total')).toContain(
      'reason="not-on-behalf"} 1',
    );
  });

  it('delivers C2D to the addressed device only, and never routes telemetry between devices', async () => {
    await setup();
    const a = await connected(devA, 'dev-a');
    const b = await connected(devB, 'dev-b');
    for (const [c, id] of [
      [a, 'dev-a'],
      [b, 'dev-b'],
    ] as const) {
      c.send({
        cmd: 'subscribe',
        messageId: 9,
        subscriptions: [{ topic: `devices/${id}/messages/devicebound/#`, qos: 1 }],
      });
      await c.waitFor((p) => p.cmd === 'suback');
    }
    publish(b, 'devices/dev-b/messages/events/', 1, 'telemetry-of-b');
    await b.waitFor((p) => p.cmd === 'puback');
    h.forwarder.sendC2d({
      deviceId: 'dev-a',
      topic: 'devices/dev-a/messages/devicebound/x=1',
      payload: Buffer.from('c2d'),
    });
    const got = await a.waitFor((p) => p.cmd === 'publish');
    expect(got).toMatchObject({ topic: 'devices/dev-a/messages/devicebound/x=1', qos: 1 });
    await tick(50);
    expect(a.received.filter((p) => p.cmd === 'publish')).toHaveLength(1);
    expect(b.received.filter((p) => p.cmd === 'publish')).toEqual([]);
    expect(h.metrics.stats.c2dOut).toBe(1);
  });

  it('drops a C2D message whose topic names another device than it is addressed to', async () => {
    await setup();
    const a = await connected(devA, 'dev-a');
    a.send({
      cmd: 'subscribe',
      messageId: 9,
      subscriptions: [{ topic: 'devices/dev-a/messages/devicebound/#', qos: 1 }],
    });
    await a.waitFor((p) => p.cmd === 'suback');
    h.forwarder.sendC2d({
      deviceId: 'dev-a',
      topic: 'devices/dev-b/messages/devicebound/',
      payload: Buffer.from('x'),
    });
    await tick(50);
    expect(a.received.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('lets an edge device subscribe for its child and receive the child’s C2D', async () => {
    await setup();
    const e = await connected(edge, 'edge-1');
    e.send({
      cmd: 'subscribe',
      messageId: 3,
      subscriptions: [{ topic: 'devices/child-1/messages/devicebound/#', qos: 1 }],
    });
    expect(await e.waitFor((p) => p.cmd === 'suback')).toMatchObject({ granted: [1] });
    h.forwarder.sendC2d({
      deviceId: 'child-1',
      topic: 'devices/child-1/messages/devicebound/',
      payload: Buffer.from('c'),
    });
    expect(await e.waitFor((p) => p.cmd === 'publish')).toMatchObject({
      topic: 'devices/child-1/messages/devicebound/',
    });
  });

  it('unwatches upstream C2D on UNSUBSCRIBE and when a clean session disconnects', async () => {
    await setup();
    const a = await connected(devA, 'dev-a');
    a.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: 'devices/dev-a/messages/devicebound/#', qos: 1 }],
    });
    await a.waitFor((p) => p.cmd === 'suback');
    expect(h.forwarder.watches.get('dev-a')).toBe(1);
    a.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['devices/dev-a/messages/devicebound/#'] });
    await a.waitFor((p) => p.cmd === 'unsuback');
    expect(h.forwarder.watches.has('dev-a')).toBe(false);
    a.send({
      cmd: 'subscribe',
      messageId: 3,
      subscriptions: [{ topic: 'devices/dev-a/messages/devicebound/#', qos: 1 }],
    });
    await a.waitFor((p) => p.cmd === 'suback' && p.messageId === 3);
    expect(h.forwarder.watches.get('dev-a')).toBe(1);
    a.end();
    for (let i = 0; i < 50 && h.forwarder.watches.size > 0; i++) await tick(10);
    expect(h.forwarder.watches.size).toBe(0);
  });

  it('drops what was queued for a persistent session when the device comes back with a clean session', async () => {
    await setup();
    await subscribedThenOffline();
    h.forwarder.sendC2d({
      deviceId: 'dev-a',
      topic: 'devices/dev-a/messages/devicebound/n=0',
      payload: Buffer.from('0'),
    });
    await tick(50);
    const clean = await connected(devA, 'dev-a', { clean: true });
    await tick(50);
    expect(clean.received.filter((p) => p.cmd === 'publish')).toEqual([]);
    clean.end();
    await tick(50);
    const again = await connected(devA, 'dev-a', { clean: false });
    await tick(50);
    expect(again.received.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('keeps a persistent session’s watch while offline, queues a bounded number of C2D, delivers them on return', async () => {
    await setup({ maxOfflineC2d: 2 });
    await subscribedThenOffline();
    expect(h.forwarder.watches.get('dev-a')).toBe(1);
    for (let i = 0; i < 4; i++) {
      h.forwarder.sendC2d({
        deviceId: 'dev-a',
        topic: `devices/dev-a/messages/devicebound/n=${i}`,
        payload: Buffer.from(`${i}`),
      });
    }
    await tick(50);
    const back = await connected(devA, 'dev-a', { clean: false });
    await back.waitFor((p) => p.cmd === 'publish' && p.topic.endsWith('n=1'));
    await tick(50);
    const topics = back.received.flatMap((p) => (p.cmd === 'publish' ? [p.topic] : []));
    expect(topics).toEqual([
      'devices/dev-a/messages/devicebound/n=0',
      'devices/dev-a/messages/devicebound/n=1',
    ]);
    // Restored subscription did not double the upstream watch.
    expect(h.forwarder.watches.get('dev-a')).toBe(1);
    // The two not queued were answered `false`, so the upstream may hold them.
    expect(h.forwarder.c2dTaken).toEqual([true, true, false, false]);
    expect(await h.metrics.registry.getSingleMetricAsString('gatehouse_c2d_dropped_total')).toContain(
      'reason="offline-queue-full"} 2',
    );
  });
});
