import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import { MAX_PENDING_C2D } from '../../../src/hub/c2d-queue.ts';
import { parsePropertyBag } from '../../../src/iothub/topics.ts';
import { makeTestPki, type TestCred } from '../../helpers/pki.ts';
import { connectDevice, deviceOptions, nextMessage, startTestHub, type TestHub } from './helpers.ts';

let t: TestHub;
let cred: TestCred;
const open: MqttClient[] = [];
const FILTER = (id: string) => `devices/${id}/messages/devicebound/#`;

beforeAll(async () => {
  const pki = await makeTestPki();
  t = await startTestHub();
  cred = await pki.selfSigned('c2d-dev');
  for (const id of ['c2d-online', 'c2d-pending', 'c2d-unacked', 'c2d-qos0', 'c2d-full', 'c2d-persist']) {
    await t.hub.admin.addDevice({
      deviceId: id,
      auth: { type: 'selfSigned', primaryThumbprint: cred.cert.sha256 },
    });
  }
});

afterAll(async () => {
  await Promise.allSettled(open.map((c) => c.endAsync(true)));
  await t?.cleanup();
});

async function connect(id: string, opts: Parameters<typeof connectDevice>[3] = {}): Promise<MqttClient> {
  const c = await connectDevice(t.hub, id, cred, opts);
  open.push(c);
  return c;
}

/** Collects messages; resolves once `n` arrived (bounded). */
function collect(c: MqttClient, n: number, ms = 10_000): Promise<Array<{ topic: string; payload: string }>> {
  const got: Array<{ topic: string; payload: string }> = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} messages arrived`)), ms);
    c.on('message', (topic, payload) => {
      got.push({ topic, payload: payload.toString() });
      if (got.length === n) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

const bagOf = (topic: string) =>
  parsePropertyBag(topic.slice(topic.indexOf('/devicebound/') + '/devicebound/'.length));

describe('hub cloud-to-device', () => {
  it('delivers at once to a live subscription, with $.mid and the application properties', async () => {
    const c = await connect('c2d-online');
    await c.subscribeAsync(FILTER('c2d-online'), { qos: 1 });
    const arriving = nextMessage(c);
    const { id } = await t.hub.admin.sendC2d('c2d-online', 'now', { color: 'blue', 'a b': 'c&d' });
    const m = await arriving;
    expect(m.payload.toString()).toBe('now');
    expect(bagOf(m.topic)).toMatchObject({
      '$.mid': id,
      color: 'blue',
      'a b': 'c&d',
      '$.to': '/devices/c2d-online/messages/devicebound',
    });
  });

  it('keeps messages pending until the device subscribes, then delivers them in order', async () => {
    await t.hub.admin.sendC2d('c2d-pending', 'first');
    await t.hub.admin.sendC2d('c2d-pending', 'second');
    await t.hub.admin.sendC2d('c2d-pending', 'third');
    const c = await connect('c2d-pending');
    // Connected but not subscribed: nothing may arrive yet.
    let early = 0;
    c.on('message', () => early++);
    await new Promise((r) => setTimeout(r, 150));
    expect(early).toBe(0);
    const all = collect(c, 3);
    await c.subscribeAsync(FILTER('c2d-pending'), { qos: 1 });
    expect((await all).map((m) => m.payload)).toEqual(['first', 'second', 'third']);
    await c.endAsync();
    // Acknowledged: a new subscription gets nothing again.
    const again = await connect('c2d-pending');
    let redelivered = 0;
    again.on('message', () => redelivered++);
    await again.subscribeAsync(FILTER('c2d-pending'), { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(redelivered).toBe(0);
  });

  it('redelivers a message that was not acknowledged before the connection dropped', async () => {
    await t.hub.admin.sendC2d('c2d-unacked', 'ack me');
    const silent = await connect('c2d-unacked');
    // mqtt.js sends the PUBACK only after handleMessage calls back (its documented backpressure hook).
    const first = new Promise<string>((resolve) => {
      silent.handleMessage = (packet) => resolve(String(packet.cmd === 'publish' ? packet.payload : ''));
    });
    await silent.subscribeAsync(FILTER('c2d-unacked'), { qos: 1 });
    expect(await first).toBe('ack me');
    silent.end(true);
    const c = await connect('c2d-unacked');
    const second = nextMessage(c);
    await c.subscribeAsync(FILTER('c2d-unacked'), { qos: 1 });
    const m = await second;
    expect(m.payload.toString()).toBe('ack me');
  });

  it('delivers at QoS 0 to a QoS 0 subscription and completes it once written', async () => {
    await t.hub.admin.sendC2d('c2d-qos0', 'fire and forget');
    const c = await connect('c2d-qos0');
    const got = new Promise<number>((resolve) => c.once('message', (_t, _p, packet) => resolve(packet.qos)));
    await c.subscribeAsync(FILTER('c2d-qos0'), { qos: 0 });
    expect(await got).toBe(0);
  });

  it('answers a persistent-session request with sessionPresent 0; C2D flows after the resubscribe', async () => {
    await t.hub.admin.sendC2d('c2d-persist', 'for a persistent client');
    const c = mqtt.connect(deviceOptions(t.hub, 'c2d-persist', cred, { clean: false }));
    open.push(c);
    const connack = await new Promise<IConnackPacket>((resolve, reject) => {
      c.once('connect', resolve);
      c.once('error', reject);
    });
    expect(connack.sessionPresent).toBe(false);
    const arriving = nextMessage(c);
    await c.subscribeAsync(FILTER('c2d-persist'), { qos: 1 });
    expect((await arriving).payload.toString()).toBe('for a persistent client');
  });

  it('refuses unknown devices, reserved property names and a full queue', async () => {
    await expect(t.hub.admin.sendC2d('no-such-device', 'x')).rejects.toSatisfy((e) =>
      isGatehouseError(e, 'GH_ERR_NOT_FOUND'),
    );
    await expect(t.hub.admin.sendC2d('c2d-full', 'x', { '$.mid': 'forged' })).rejects.toSatisfy((e) =>
      isGatehouseError(e, 'GH_ERR_INPUT'),
    );
    for (let i = 0; i < MAX_PENDING_C2D; i++) await t.hub.admin.sendC2d('c2d-full', `m${i}`);
    await expect(t.hub.admin.sendC2d('c2d-full', 'one too many')).rejects.toSatisfy((e) =>
      isGatehouseError(e, 'GH_ERR_STORE_FULL'),
    );
  });
});
