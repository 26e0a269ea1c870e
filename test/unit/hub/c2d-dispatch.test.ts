import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { C2dDispatcher, type C2dReceiver } from '../../../src/hub/c2d-dispatch.ts';
import { C2dQueue } from '../../../src/hub/c2d-queue.ts';
import { type HubDb, openHubDb } from '../../../src/hub/store.ts';
import { parsePropertyBag } from '../../../src/iothub/topics.ts';
import { silentLogger } from '../../../src/logger.ts';

/** A receiver that records what it was sent; the test decides when writes complete. */
class FakeReceiver implements C2dReceiver {
  open = true;
  allowed = new Set<string>();
  sent: Array<{ topic: string; payload: string; qos: 0 | 1; written: (err?: Error) => void }> = [];
  constructor(...allowed: string[]) {
    for (const a of allowed) this.allowed.add(a);
  }
  isOpen = () => this.open;
  mayReceive = (id: string) => this.allowed.has(id);
  deliver(topic: string, payload: Buffer, qos: 0 | 1, written: (err?: Error) => void): void {
    this.sent.push({ topic, payload: payload.toString(), qos, written });
  }
  payloads = () => this.sent.map((s) => s.payload);
}

let db: HubDb;
let queue: C2dQueue;
let d: C2dDispatcher;

beforeEach(() => {
  db = openHubDb(':memory:');
  queue = new C2dQueue(db);
  d = new C2dDispatcher({ queue, logger: silentLogger() });
});
afterEach(() => db.close());

describe('C2dDispatcher', () => {
  it('sends pending messages one at a time, in order, each after the previous PUBACK', () => {
    const a = queue.enqueue('dev', Buffer.from('one'), { k: 'v' });
    queue.enqueue('dev', Buffer.from('two'));
    const r = new FakeReceiver('dev');
    d.subscribed(r, 'dev', 1);
    expect(r.payloads()).toEqual(['one']);
    const bag = parsePropertyBag(r.sent[0]?.topic.split('/devicebound/')[1] ?? '');
    expect(bag).toMatchObject({ k: 'v', '$.mid': a.id });
    r.sent[0]?.written();
    expect(r.payloads()).toEqual(['one']);
    d.acked(r);
    expect(r.payloads()).toEqual(['one', 'two']);
    d.acked(r);
    expect(queue.pendingCount('dev')).toBe(0);
  });

  it('keeps an unacknowledged message queued when the connection goes, and gives it to the next one', () => {
    queue.enqueue('dev', Buffer.from('keep'));
    const first = new FakeReceiver('dev');
    d.subscribed(first, 'dev', 1);
    first.open = false;
    d.gone(first);
    expect(queue.pendingCount('dev')).toBe(1);
    const second = new FakeReceiver('dev');
    d.subscribed(second, 'dev', 1);
    expect(second.payloads()).toEqual(['keep']);
    // A late write failure from the dead connection changes nothing.
    first.sent[0]?.written(new Error('closed'));
    d.acked(second);
    expect(queue.pendingCount('dev')).toBe(0);
  });

  it('never gives one message to two connections at once', () => {
    queue.enqueue('dev', Buffer.from('only'));
    const a = new FakeReceiver('dev');
    const b = new FakeReceiver('dev');
    d.subscribed(a, 'dev', 1);
    d.subscribed(b, 'dev', 1);
    expect(a.payloads().length + b.payloads().length).toBe(1);
  });

  it('delivers new messages at once to a subscribed connection (notify)', () => {
    const r = new FakeReceiver('dev');
    d.subscribed(r, 'dev', 1);
    expect(r.sent).toHaveLength(0);
    queue.enqueue('dev', Buffer.from('live'));
    d.notify('dev');
    expect(r.payloads()).toEqual(['live']);
  });

  it('completes QoS 0 deliveries once written', () => {
    queue.enqueue('dev', Buffer.from('a'));
    queue.enqueue('dev', Buffer.from('b'));
    const r = new FakeReceiver('dev');
    d.subscribed(r, 'dev', 0);
    r.sent[0]?.written();
    r.sent[1]?.written();
    expect(r.sent.map((s) => s.qos)).toEqual([0, 0]);
    expect(queue.pendingCount('dev')).toBe(0);
  });

  it('stops delivering for a device the connection may no longer receive', () => {
    queue.enqueue('child', Buffer.from('moved away'));
    const edge = new FakeReceiver();
    d.subscribed(edge, 'child', 1);
    expect(edge.sent).toHaveLength(0);
    expect(queue.pendingCount('child')).toBe(1);
  });

  it('takes turns between the devices of one edge connection', () => {
    for (const p of ['a1', 'a2']) queue.enqueue('a', Buffer.from(p));
    for (const p of ['b1', 'b2']) queue.enqueue('b', Buffer.from(p));
    const edge = new FakeReceiver('a', 'b');
    d.subscribed(edge, 'a', 1);
    d.subscribed(edge, 'b', 1);
    for (let i = 0; i < 3; i++) d.acked(edge);
    expect(edge.payloads()).toEqual(['a1', 'b1', 'a2', 'b2']);
  });
});
