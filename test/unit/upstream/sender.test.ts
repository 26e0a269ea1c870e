import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.ts';
import { C2dRouter } from '../../../src/upstream/c2d.ts';
import { POISON_STRIKES, Sender } from '../../../src/upstream/sender.ts';
import { MessageStore } from '../../../src/upstream/store.ts';
import type { C2dMessage } from '../../../src/upstream/types.ts';
import { makeTempDir } from '../../helpers/pki.ts';

/** An in-memory stand-in for mqtt.js: records publishes; the test decides when PUBACKs arrive. */
class FakeClient {
  readonly published: Array<{ topic: string; ack: (err?: Error) => void }> = [];
  readonly subscribed: string[][] = [];
  readonly unsubscribed: string[] = [];
  publish(topic: string, _payload: Buffer, _opts: unknown, cb: (err?: Error) => void): void {
    this.published.push({ topic, ack: cb });
  }
  subscribe(filters: Record<string, unknown>, cb: (err: Error | null, granted: unknown[]) => void): void {
    this.subscribed.push(Object.keys(filters));
    cb(null, []);
  }
  unsubscribe(filter: string, cb: (err?: Error) => void): void {
    this.unsubscribed.push(filter);
    cb();
  }
  asClient(): MqttClient {
    return this as unknown as MqttClient;
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const tick = () => new Promise((r) => setImmediate(r));
const topic = (id: string, n: number) => `devices/${id}/messages/events/n=${n}`;

async function setup(window = 4, clock = { t: Date.UTC(2025, 0, 1) }) {
  const tmp = await makeTempDir('gh-sender-');
  cleanups.push(tmp.cleanup);
  const store = new MessageStore({
    dir: tmp.dir,
    settings: { timeToLiveSecs: 60, maxBytes: 10_000_000, fullPolicy: 'refuse' },
    now: () => clock.t,
  });
  cleanups.push(() => store.close());
  const sender = new Sender({ store, window, logger: silentLogger() });
  return { store, sender, clock };
}

describe('Sender', () => {
  it('keeps at most `window` publishes unacknowledged, in store order', async () => {
    const { store, sender } = await setup(4);
    const client = new FakeClient();
    sender.attach(client.asClient());
    await Promise.all(Array.from({ length: 10 }, (_, n) => store.add('d', topic('d', n), Buffer.from('x'))));
    expect(client.published.map((p) => p.topic)).toEqual([0, 1, 2, 3].map((n) => topic('d', n)));
    // One ack frees one slot, refilled at once from the rows read ahead.
    client.published[0]!.ack();
    expect(client.published).toHaveLength(5);
    // Ack everything as it goes out; never more than 4 outstanding at any point.
    let acked = 1;
    for (let round = 0; round < 20 && acked < client.published.length; round++) {
      expect(client.published.length - acked).toBeLessThanOrEqual(4);
      client.published[acked++]!.ack();
    }
    expect(client.published.map((p) => p.topic)).toEqual(Array.from({ length: 10 }, (_, n) => topic('d', n)));
    expect(sender.sentCount()).toBe(10);
    expect(sender.inFlightCount()).toBeLessThanOrEqual(4);
  });

  it('resends everything unacknowledged from the start after a reconnect, ignoring stale acks', async () => {
    const { store, sender } = await setup(4);
    const first = new FakeClient();
    sender.attach(first.asClient());
    await Promise.all([0, 1, 2].map((n) => store.add('d', topic('d', n), Buffer.from('x'))));
    first.published[0]!.ack();
    await tick(); // the delete of message 0 commits
    sender.detach();
    first.published[1]!.ack(); // a PUBACK from the dead connection: must not count
    const second = new FakeClient();
    sender.attach(second.asClient());
    expect(second.published.map((p) => p.topic)).toEqual([topic('d', 1), topic('d', 2)]);
    expect(sender.sentCount()).toBe(1);
  });

  it('drops expired messages instead of sending them', async () => {
    const { store, sender, clock } = await setup(4);
    await store.add('d', topic('d', 0), Buffer.from('old'));
    clock.t += 61_000;
    await store.add('d', topic('d', 1), Buffer.from('new'));
    const client = new FakeClient();
    sender.attach(client.asClient());
    expect(client.published.map((p) => p.topic)).toEqual([topic('d', 1)]);
    await tick();
    expect(store.counters()).toMatchObject({ expired: 1, queued: 1 });
  });

  it(`sets aside a message that is first unacknowledged on ${POISON_STRIKES} dropped connections in a row`, async () => {
    const { store, sender } = await setup(4);
    await store.add('d', topic('d', 0), Buffer.from('poison'));
    await store.add('d', topic('d', 1), Buffer.from('fine'));
    for (let i = 0; i < POISON_STRIKES - 1; i++) {
      sender.attach(new FakeClient().asClient());
      sender.detach();
    }
    await tick();
    expect(store.counters()).toMatchObject({ rejected: 0, queued: 2 });
    sender.attach(new FakeClient().asClient());
    sender.detach();
    await tick();
    expect(store.counters()).toMatchObject({ rejected: 1, queued: 1 });
    const client = new FakeClient();
    sender.attach(client.asClient());
    expect(client.published.map((p) => p.topic)).toEqual([topic('d', 1)]);
  });

  it('an ack of the suspect clears its strikes', async () => {
    const { store, sender } = await setup(4);
    await store.add('d', topic('d', 0), Buffer.from('x'));
    for (let i = 0; i < POISON_STRIKES - 1; i++) {
      sender.attach(new FakeClient().asClient());
      sender.detach();
    }
    const client = new FakeClient();
    sender.attach(client.asClient());
    client.published[0]!.ack();
    await store.add('d', topic('d', 1), Buffer.from('x'));
    for (let i = 0; i < POISON_STRIKES - 1; i++) {
      sender.detach();
      sender.attach(new FakeClient().asClient());
    }
    await tick();
    expect(store.counters()).toMatchObject({ rejected: 0, queued: 1 });
  });
});

describe('C2dRouter', () => {
  const router = () => new C2dRouter({ maxPerDevice: 2, logger: silentLogger() });
  const msg = (id: string, n: number) => `devices/${id}/messages/devicebound/n=${n}`;

  it('subscribes once per device (refcounted), replays the watch list on attach, unsubscribes at zero', () => {
    const r = router();
    r.watch('s1');
    r.watch('s1');
    r.watch('s2');
    const client = new FakeClient();
    r.attach(client.asClient());
    expect(client.subscribed).toEqual([
      ['devices/s1/messages/devicebound/#', 'devices/s2/messages/devicebound/#'],
    ]);
    r.unwatch('s1');
    expect(client.unsubscribed).toEqual([]);
    r.unwatch('s1');
    expect(client.unsubscribed).toEqual(['devices/s1/messages/devicebound/#']);
    r.watch('s3');
    expect(client.subscribed.at(-1)).toEqual(['devices/s3/messages/devicebound/#']);
  });

  it('routes only watched devices, never topics it did not ask for', () => {
    const r = router();
    const got: C2dMessage[] = [];
    r.setHandler((m) => {
      got.push(m);
    });
    r.watch('s1');
    expect(r.receive(msg('s1', 1), Buffer.from('a'))).toBe(true);
    expect(r.receive(msg('s2', 1), Buffer.from('b'))).toBe(false);
    expect(r.receive('devices/s1/messages/events/x', Buffer.from('c'))).toBe(false);
    expect(r.receive('devices/s 1/messages/devicebound/', Buffer.from('d'))).toBe(false);
    expect(got.map((m) => [m.deviceId, m.payload.toString()])).toEqual([['s1', 'a']]);
  });

  it('holds messages the handler refuses, bounded per device, and offers them again on watch', () => {
    const r = router();
    let online = false;
    const got: string[] = [];
    r.setHandler((m) => {
      if (!online) return false;
      got.push(m.payload.toString());
      return true;
    });
    r.watch('s1');
    for (let n = 1; n <= 3; n++) r.receive(msg('s1', n), Buffer.from(String(n)));
    expect(r.counts()).toMatchObject({ held: 2, dropped: 1, received: 3 });
    online = true;
    r.watch('s1');
    expect(got).toEqual(['2', '3']);
    expect(r.counts().held).toBe(0);
  });

  it('holds messages that arrive before a handler exists and a throwing handler does not lose them', () => {
    const r = router();
    r.watch('s1');
    r.receive(msg('s1', 1), Buffer.from('early'));
    let calls = 0;
    r.setHandler(() => {
      calls++;
      if (calls === 1) throw new Error('broker hiccup');
    });
    expect(r.counts().held).toBe(1);
    r.redeliver('s1');
    expect(calls).toBe(2);
    expect(r.counts().held).toBe(0);
  });
});
