import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createBrokerEmitter } from '../../../src/broker/emitter.ts';
import { createBrokerPersistence } from '../../../src/broker/persistence.ts';

/** The persistence methods these tests drive, in the promise form aedes 1.2 uses. */
interface Persistence {
  setup(broker: unknown): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: object): Promise<void>;
  outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: object): Promise<void>;
  outgoingUpdate(client: { id: string }, packet: object): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: object): Promise<unknown>;
  outgoingStream(client: { id: string }): Readable;
}

type Queued = { topic: string; messageId?: number; brokerId: string; brokerCounter: number };

async function queued(p: Persistence, id: string): Promise<Queued[]> {
  const out: Queued[] = [];
  for await (const packet of p.outgoingStream({ id })) out.push(packet as Queued);
  return out;
}

/** Whether the client's queue stream is the directly built empty one (not the memory persistence's). */
function isCheapEmpty(p: Persistence, id: string): boolean {
  const stream = p.outgoingStream({ id });
  stream.destroy();
  return stream.constructor.name === 'EmptyQueue';
}

async function persistence(): Promise<Persistence> {
  const p = createBrokerPersistence() as Persistence;
  await p.setup({ id: 'broker-1' });
  return p;
}

const c2d = (n: number) => ({
  cmd: 'publish',
  topic: `devices/dev-a/messages/devicebound/n=${n}`,
  payload: Buffer.from(`${n}`),
  qos: 1,
  brokerId: 'broker-1',
  brokerCounter: n,
});

/** What aedes does when it sends a queued message and the device acknowledges it. */
async function deliverAndAck(p: Persistence, id: string, packet: Queued, messageId: number): Promise<void> {
  await p.outgoingUpdate({ id }, { ...packet, messageId });
  expect(await p.outgoingClearMessageId({ id }, { messageId })).toBeTruthy();
}

describe('broker persistence (aedes memory persistence with a cheap empty queue)', () => {
  it('streams nothing for a client with nothing queued', async () => {
    const p = await persistence();
    expect(await queued(p, 'dev-a')).toEqual([]);
    expect(isCheapEmpty(p, 'dev-a')).toBe(true);
  });

  it('streams what was queued, per client, until each message is acknowledged', async () => {
    const p = await persistence();
    await p.outgoingEnqueueCombi([{ clientId: 'dev-a' }, { clientId: 'dev-b' }], c2d(1));
    await p.outgoingEnqueue({ clientId: 'dev-a' }, c2d(2));
    const a = await queued(p, 'dev-a');
    expect(a.map((m) => m.topic)).toEqual([c2d(1).topic, c2d(2).topic]);
    expect((await queued(p, 'dev-b')).map((m) => m.topic)).toEqual([c2d(1).topic]);

    await deliverAndAck(p, 'dev-a', a[0] as Queued, 7);
    expect((await queued(p, 'dev-a')).map((m) => m.topic)).toEqual([c2d(2).topic]);
    await deliverAndAck(p, 'dev-a', a[1] as Queued, 8);
    expect(await queued(p, 'dev-a')).toEqual([]);
    expect(isCheapEmpty(p, 'dev-a')).toBe(true);
    expect(isCheapEmpty(p, 'dev-b')).toBe(false);
    // dev-b's copy is its own.
    expect((await queued(p, 'dev-b')).map((m) => m.topic)).toEqual([c2d(1).topic]);
  });

  it('does not count down for an acknowledgement that matched nothing queued', async () => {
    const p = await persistence();
    await p.outgoingEnqueue({ clientId: 'dev-a' }, c2d(1));
    // A clean session's in-flight C2D is never queued; its PUBACK clears nothing.
    expect(await p.outgoingClearMessageId({ id: 'dev-a' }, { messageId: 99 })).toBeUndefined();
    expect((await queued(p, 'dev-a')).map((m) => m.topic)).toEqual([c2d(1).topic]);
  });
});

describe('broker emitter', () => {
  it('answers the per-connection $SYS announcements without routing them, routes the rest', async () => {
    const mq = createBrokerEmitter('broker-1');
    const seen: string[] = [];
    const listen = (topic: string) =>
      new Promise<void>((resolve) =>
        mq.on(
          topic,
          (m, done) => {
            seen.push(m.topic);
            done();
          },
          () => resolve(),
        ),
      );
    await listen('$SYS/#');
    await listen('devices/#');
    const emit = (topic: string) => new Promise<void>((resolve) => mq.emit({ topic }, () => resolve()));
    await emit('$SYS/broker-1/new/clients');
    await emit('$SYS/broker-1/disconnect/clients');
    await emit('$SYS/broker-1/heartbeat');
    await emit('$SYS/broker-2/new/clients');
    await emit('devices/dev-a/messages/devicebound/x');
    expect(seen).toEqual([
      '$SYS/broker-1/heartbeat',
      '$SYS/broker-2/new/clients',
      'devices/dev-a/messages/devicebound/x',
    ]);
  });
});
