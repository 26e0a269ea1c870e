import { c2dTopic, formatPropertyBag } from '../iothub/topics.ts';
import type { Logger } from '../logger.ts';
import type { C2dQueue, PendingC2d } from './c2d-queue.ts';

/** One live MQTT connection that subscribed to cloud-to-device filters, as the dispatcher sees it. */
export interface C2dReceiver {
  isOpen(): boolean;
  /** Whether the connection may still receive this device's messages (the registry may have changed). */
  mayReceive(deviceId: string): boolean;
  /** Writes one PUBLISH; `written` runs once it is on the wire (or failed). */
  deliver(topic: string, payload: Buffer, qos: 0 | 1, written: (err?: Error) => void): void;
}

interface ReceiverState {
  /** Subscribed device ids → granted QoS. */
  readonly devices: Map<string, 0 | 1>;
  inFlight: PendingC2d | undefined;
  /** The device served last: the next turn starts after it, so one busy device cannot starve the others. */
  last: string | undefined;
}

/**
 * Delivers queued cloud-to-device messages to subscribed connections. Each connection has at most one
 * message in flight: the hub keeps no MQTT session state (clean sessions), so every QoS 1 PUBLISH it
 * sends on a connection is a C2D message, and the connection's next PUBACK acknowledges exactly that
 * one. A message is removed from the queue only on that PUBACK (QoS 1) or once written (QoS 0
 * subscriptions); a connection that drops first leaves it pending for the next subscriber.
 */
export class C2dDispatcher {
  private readonly queue: C2dQueue;
  private readonly log: Logger;
  private readonly receivers = new Map<C2dReceiver, ReceiverState>();
  private readonly byDevice = new Map<string, Set<C2dReceiver>>();
  /** Message ids currently on some connection, so two subscribers never get the same one at once. */
  private readonly inFlight = new Set<string>();

  constructor(opts: { queue: C2dQueue; logger: Logger }) {
    this.queue = opts.queue;
    this.log = opts.logger;
  }

  subscribed(r: C2dReceiver, deviceId: string, qos: 0 | 1): void {
    const state: ReceiverState = this.receivers.get(r) ?? {
      devices: new Map(),
      inFlight: undefined,
      last: undefined,
    };
    this.receivers.set(r, state);
    state.devices.set(deviceId, qos);
    const set = this.byDevice.get(deviceId) ?? new Set();
    this.byDevice.set(deviceId, set);
    set.add(r);
    this.pump(r);
  }

  unsubscribed(r: C2dReceiver, deviceId: string): void {
    this.receivers.get(r)?.devices.delete(deviceId);
    this.dropIndex(r, deviceId);
  }

  /** The connection closed: its in-flight message (if any) stays queued for redelivery. */
  gone(r: C2dReceiver): void {
    const state = this.receivers.get(r);
    if (!state) return;
    this.receivers.delete(r);
    for (const deviceId of state.devices.keys()) this.dropIndex(r, deviceId);
    if (state.inFlight) this.inFlight.delete(state.inFlight.id);
    state.inFlight = undefined;
  }

  /** A PUBACK arrived on the connection. */
  acked(r: C2dReceiver): void {
    const state = this.receivers.get(r);
    const msg = state?.inFlight;
    if (!state || !msg) return;
    this.finish(state, msg, true);
    this.log.debug({ deviceId: msg.deviceId, mid: msg.id }, 'cloud-to-device message acknowledged');
    this.pump(r);
  }

  /** A message was queued for the device: connections subscribed for it get it now. */
  notify(deviceId: string): void {
    for (const r of this.byDevice.get(deviceId) ?? []) this.pump(r);
  }

  private pump(r: C2dReceiver): void {
    const state = this.receivers.get(r);
    if (!state || state.inFlight) return;
    if (!r.isOpen()) {
      this.gone(r);
      return;
    }
    const ids = [...state.devices.keys()];
    const start = state.last === undefined ? 0 : ids.indexOf(state.last) + 1;
    for (let i = 0; i < ids.length; i++) {
      const deviceId = ids[(start + i) % ids.length] as string;
      if (!r.mayReceive(deviceId)) {
        this.unsubscribed(r, deviceId);
        continue;
      }
      let msg: PendingC2d | undefined;
      try {
        msg = this.queue.next(deviceId, this.inFlight);
      } catch (err) {
        this.log.error({ err, deviceId }, 'cannot read the cloud-to-device queue');
        return;
      }
      if (!msg) continue;
      state.last = deviceId;
      this.send(r, state, msg, state.devices.get(deviceId) ?? 1);
      return;
    }
  }

  private send(r: C2dReceiver, state: ReceiverState, msg: PendingC2d, qos: 0 | 1): void {
    state.inFlight = msg;
    this.inFlight.add(msg.id);
    const bag = formatPropertyBag({
      ...msg.properties,
      '$.mid': msg.id,
      '$.to': `/devices/${msg.deviceId}/messages/devicebound`,
    });
    this.log.debug({ deviceId: msg.deviceId, mid: msg.id, qos }, 'delivering cloud-to-device message');
    r.deliver(c2dTopic(msg.deviceId, bag), msg.payload, qos, (err) => {
      // Stale: the connection went away (and the message may already be on another one).
      if (state.inFlight?.id !== msg.id) return;
      if (err) {
        // The connection is failing; the message stays queued for the next subscriber.
        this.finish(state, msg, false);
        return;
      }
      if (qos === 0) {
        this.finish(state, msg, true);
        this.pump(r);
      }
    });
  }

  private finish(state: ReceiverState, msg: PendingC2d, done: boolean): void {
    state.inFlight = undefined;
    this.inFlight.delete(msg.id);
    if (!done) return;
    try {
      this.queue.complete(msg.id);
    } catch (err) {
      this.log.error({ err, mid: msg.id }, 'cannot mark a cloud-to-device message done');
    }
  }

  private dropIndex(r: C2dReceiver, deviceId: string): void {
    const set = this.byDevice.get(deviceId);
    set?.delete(r);
    if (set?.size === 0) this.byDevice.delete(deviceId);
  }
}
