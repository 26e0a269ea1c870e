import type { MqttClient } from 'mqtt';
import { c2dFilter } from '../iothub/topics.ts';
import type { Logger } from '../logger.ts';
import { isDeviceId } from '../registry/device.ts';
import type { C2dMessage } from './types.ts';

const C2D_TOPIC = /^devices\/([^/]+)\/messages\/devicebound(?:\/.*)?$/;

/**
 * The broker's C2D handler. Returning `false` means no session took the message (device offline, no
 * persistent session to keep it): the upstream holds it, at most max_c2d_per_device per device (oldest
 * dropped, counted), and offers it again on the next `watchC2d` / `redeliverC2d` for that device.
 */
export type C2dHandler = (message: C2dMessage) => unknown;

/**
 * Cloud-to-device fan-in: the gateway subscribes, on its own upstream connection, to each watched
 * device's `devices/{id}/messages/devicebound/#` (refcounted: several sessions may watch one device)
 * and routes what arrives to the broker's handler. The watch list is ours, so it is replayed on every
 * new connection (clean session upstream).
 */
export class C2dRouter {
  private readonly watched = new Map<string, number>();
  private readonly held = new Map<string, C2dMessage[]>();
  private readonly maxHeld: number;
  private readonly log: Logger;
  private client: MqttClient | undefined;
  private handler: C2dHandler | undefined;
  private received = 0;
  private dropped = 0;

  constructor(options: { maxPerDevice: number; logger: Logger }) {
    this.maxHeld = Math.max(0, options.maxPerDevice);
    this.log = options.logger;
  }

  watch(deviceId: string): void {
    if (!isDeviceId(deviceId)) return;
    const n = this.watched.get(deviceId) ?? 0;
    this.watched.set(deviceId, n + 1);
    if (n === 0) this.subscribe([deviceId]);
    this.redeliver(deviceId);
  }

  unwatch(deviceId: string): void {
    const n = this.watched.get(deviceId);
    if (n === undefined) return;
    if (n > 1) {
      this.watched.set(deviceId, n - 1);
      return;
    }
    this.watched.delete(deviceId);
    this.held.delete(deviceId);
    this.client?.unsubscribe(c2dFilter(deviceId), (err) => {
      if (err) this.log.debug({ err, deviceId }, 'C2D unsubscribe failed');
    });
  }

  setHandler(handler: C2dHandler): void {
    this.handler = handler;
    for (const deviceId of [...this.held.keys()]) this.redeliver(deviceId);
  }

  /** Offers held messages for `deviceId` to the handler again, oldest first. */
  redeliver(deviceId: string): void {
    const queue = this.held.get(deviceId);
    if (!queue || !this.handler) return;
    this.held.delete(deviceId);
    for (const message of queue) this.offer(message);
  }

  attach(client: MqttClient): void {
    this.client = client;
    this.subscribe([...this.watched.keys()]);
  }

  detach(): void {
    this.client = undefined;
  }

  /** A message from upstream; true when it was a C2D topic for a watched device. */
  receive(topic: string, payload: Buffer): boolean {
    const deviceId = C2D_TOPIC.exec(topic)?.[1];
    // Only devices some session asked for: the upstream never gets to pick a recipient.
    if (!isDeviceId(deviceId) || !this.watched.has(deviceId)) {
      this.log.debug({ topic }, 'ignored upstream message on a topic no device watches');
      return false;
    }
    this.received++;
    this.offer({ deviceId, topic, payload });
    return true;
  }

  counts(): { watched: number; received: number; held: number; dropped: number } {
    let held = 0;
    for (const q of this.held.values()) held += q.length;
    return { watched: this.watched.size, received: this.received, held, dropped: this.dropped };
  }

  private offer(message: C2dMessage): void {
    let taken = false;
    if (this.handler) {
      try {
        taken = this.handler(message) !== false;
      } catch (err) {
        this.log.error({ err, deviceId: message.deviceId }, 'C2D handler threw; message held');
      }
    }
    if (taken) return;
    const queue = this.held.get(message.deviceId) ?? [];
    queue.push(message);
    // Bounded like IoT Hub's per-device C2D queue: the oldest make way.
    while (queue.length > this.maxHeld) {
      queue.shift();
      this.dropped++;
      this.log.warn({ deviceId: message.deviceId }, 'C2D queue for offline device full; oldest dropped');
    }
    if (queue.length > 0) this.held.set(message.deviceId, queue);
  }

  private subscribe(deviceIds: readonly string[]): void {
    const client = this.client;
    if (!client || deviceIds.length === 0) return;
    const filters = Object.fromEntries(deviceIds.map((id) => [c2dFilter(id), { qos: 1 as const }]));
    client.subscribe(filters, (err, granted) => {
      if (err) {
        this.log.warn({ err, devices: deviceIds.length }, 'C2D subscribe failed; retried on reconnect');
        return;
      }
      for (const g of granted ?? []) {
        if (g.qos === 128) this.log.error({ topic: g.topic }, 'upstream refused a C2D subscription');
      }
    });
  }
}
