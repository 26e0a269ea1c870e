import type { AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes';
import { authorizePublish, authorizeSubscribe } from '../auth/authorize.ts';
import { isGatehouseError } from '../errors.ts';
import { parsePropertyBag, telemetryTopic } from '../iothub/topics.ts';
import type { TelemetryMessage } from '../upstream/types.ts';
import { c2dTopicDeviceId } from './c2d.ts';
import type { HookContext } from './context.ts';
import { type DeviceSession, sessionOf } from './session.ts';

type AuthorizePublish = (
  client: Client | null,
  packet: PublishPacket,
  cb: (err?: Error | null) => void,
) => void;
type AuthorizeSubscribe = (
  client: Client,
  sub: Subscription,
  cb: (err: Error | null, sub?: Subscription | null) => void,
) => void;
type AuthorizeForward = (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null;

/** A refused PUBLISH: aedes closes the connection (MQTT 3.1.1 has no negative PUBACK), as IoT Hub does. */
export class PublishRefusedError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`publish refused (${reason})`);
    this.name = 'PublishRefusedError';
    this.reason = reason;
  }
}

const EVENTS = '/messages/events/';

/**
 * aedes topic hooks. Only telemetry may be published and only C2D subscribed, each for the device
 * itself or its subtree. Accepted QoS 1 telemetry is durably queued upstream BEFORE the callback
 * returns, so aedes' PUBACK means "stored"; a refusal or a full store closes the connection without
 * a PUBACK and the device resends later.
 */
export function createTopicHooks(ctx: HookContext): {
  authorizePublish: AuthorizePublish;
  authorizeSubscribe: AuthorizeSubscribe;
  authorizeForward: AuthorizeForward;
} {
  const refusePublish = (
    session: DeviceSession | undefined,
    reason: string,
    topic: string,
    cb: (err?: Error | null) => void,
  ): void => {
    ctx.metrics.publishRefused(reason);
    const deviceId = session?.deviceId;
    ctx.burst.note(
      `publish:${reason}:${deviceId ?? ''}`,
      { deviceId, reason, topic: topic.slice(0, 200) },
      'publish refused; closing the connection',
    );
    cb(new PublishRefusedError(reason));
  };

  const authorizePublishHook: AuthorizePublish = (client, packet, cb) => {
    const session = sessionOf(client);
    if (!session) return refusePublish(undefined, 'not-authenticated', packet.topic, cb);
    if (session.revoked) return refusePublish(session, 'revoked', packet.topic, cb);
    // IoT Hub has no QoS 2 and closes the connection on it; so do we.
    if (packet.qos === 2) return refusePublish(session, 'qos2-unsupported', packet.topic, cb);
    const decision = authorizePublish(packet.topic, session);
    if (!decision.ok) return refusePublish(session, decision.reason, packet.topic, cb);
    let topic = packet.topic;
    const bagAt = topic.indexOf(EVENTS);
    const bag = bagAt < 0 ? '' : topic.slice(bagAt + EVENTS.length);
    if (bag !== '' && parsePropertyBag(bag) === undefined) {
      return refusePublish(session, 'bad-property-bag', topic, cb);
    }
    if (packet.retain) {
      // IoT Hub does not retain telemetry: it forwards it marked with an mqtt-retain property.
      packet.retain = false;
      topic = telemetryTopic(
        decision.targetDeviceId,
        bag === '' ? 'mqtt-retain=true' : `${bag}&mqtt-retain=true`,
      );
    }
    const message: TelemetryMessage = {
      deviceId: decision.targetDeviceId,
      connectionDeviceId: session.deviceId,
      topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos: packet.qos,
      receivedAt: ctx.now(),
    };
    if (packet.qos === 0) {
      ctx.forwarder.forwardBestEffort(message);
      ctx.metrics.stats.telemetryQos0++;
      return cb(null);
    }
    ctx.forwarder.enqueue(message).then(
      () => {
        ctx.metrics.stats.telemetryQos1++;
        cb(null);
      },
      (err: unknown) => {
        const reason = isGatehouseError(err, 'GH_ERR_STORE_FULL') ? 'store-full' : 'store-error';
        if (reason === 'store-error')
          ctx.log.error({ err, deviceId: session.deviceId }, 'telemetry store failed');
        refusePublish(session, reason, packet.topic, cb);
      },
    );
  };

  const authorizeSubscribeHook: AuthorizeSubscribe = (client, sub, cb) => {
    const session = sessionOf(client);
    let reason: string;
    if (!session) reason = 'not-authenticated';
    else if (session.revoked) reason = 'revoked';
    else {
      const decision = authorizeSubscribe(sub.topic, session);
      if (decision.ok) {
        ctx.c2d.watch(session, decision.targetDeviceId);
        // IoT Hub has no QoS 2. aedes 1.2 still echoes the requested QoS in SUBACK, but C2D is
        // only ever published at QoS 1, so nothing is delivered at QoS 2.
        return cb(null, sub.qos > 1 ? { ...sub, qos: 1 } : sub);
      }
      reason = decision.reason;
    }
    ctx.metrics.subscribeRefused(reason);
    ctx.burst.note(
      `subscribe:${reason}:${session?.deviceId ?? ''}`,
      { deviceId: session?.deviceId, reason, topic: sub.topic.slice(0, 200) },
      'subscription refused',
    );
    cb(null, null);
  };

  // Second line of defence: only C2D for the device or its subtree ever leaves the broker, so no
  // device receives another's telemetry whatever was subscribed.
  const authorizeForward: AuthorizeForward = (client, packet) => {
    const session = sessionOf(client);
    const target = c2dTopicDeviceId(packet.topic);
    if (!session || session.revoked || target === undefined) return null;
    if (target !== session.deviceId && !session.mayActFor(target)) return null;
    ctx.metrics.stats.c2dOut++;
    return packet;
  };

  return {
    authorizePublish: authorizePublishHook,
    authorizeSubscribe: authorizeSubscribeHook,
    authorizeForward,
  };
}
