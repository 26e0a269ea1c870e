import type {
  AedesOptions,
  AedesPublishPacket,
  AuthenticateError,
  Client,
  PublishPacket,
  Subscription,
} from 'aedes';
import { type AuthDecision, authenticateDevice } from '../auth/authenticate.ts';
import { type Actor, authorizePublish, authorizeSubscribe } from '../auth/authorize.ts';
import { c2dFilter, parseC2dFilter, parsePropertyBag, parseTelemetryTopic } from '../iothub/topics.ts';
import type { Logger } from '../logger.ts';
import { peerChainOf } from '../pki/peer-chain.ts';
import { isInSubtree } from '../registry/scope.ts';
import type { C2dReceiver } from './c2d-dispatch.ts';
import type { CaRegistry } from './cas.ts';
import type { DeviceRegistry } from './devices.ts';
import type { MessageStore } from './messages.ts';

/** IoT Hub's device-to-cloud message size limit. */
export const MAX_TELEMETRY_BYTES = 256 * 1024;

/** What the hub knows about one authenticated MQTT connection. */
export interface Session {
  readonly deviceId: string;
  readonly actor: Actor;
  readonly receiver: C2dReceiver;
}

export interface HookDeps {
  readonly devices: DeviceRegistry;
  readonly cas: CaRegistry;
  readonly messages: MessageStore;
  readonly logger: Logger;
  readonly now?: () => number;
}

type Hooks = Required<
  Pick<
    AedesOptions,
    'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'
  >
>;

/**
 * The aedes hooks of the hub's MQTT endpoint. They only adapt the pure decisions in src/auth to
 * aedes; every path that is not an explicit acceptance refuses. `sessionOf` exposes the
 * authenticated identity of a connection to the endpoint's event handlers.
 */
export function createHubHooks(deps: HookDeps): Hooks & { sessionOf(client: Client): Session | undefined } {
  const { devices, cas, messages, logger: log } = deps;
  const now = deps.now ?? Date.now;
  // The CONNECT packet's client id as sent: aedes replaces an empty one with a random id.
  const rawClientIds = new WeakMap<Client, string>();
  const sessions = new WeakMap<Client, Session>();

  const actorFor = (deviceId: string): Actor => ({
    deviceId,
    // Only edge devices have children; the registry is read live, so re-parenting takes effect at once.
    mayActFor: (target) =>
      devices.lookup(deviceId)?.capabilities.iotEdge === true &&
      isInSubtree(devices.lookup, deviceId, target),
  });

  const receiverFor = (client: Client, actor: Actor): C2dReceiver => ({
    isOpen: () => client.connected && !client.closed,
    mayReceive: (id) => authorizeSubscribe(c2dFilter(id), actor).ok,
    deliver: (topic, payload, qos, written) => {
      const packet = { cmd: 'publish', topic, payload, qos, retain: false, dup: false } as PublishPacket;
      client.publish(packet, written);
    },
  });

  const refusePublish = (client: Client, reason: string, topic: string, cb: (err?: Error | null) => void) => {
    const deviceId = sessions.get(client)?.deviceId;
    log.warn({ deviceId, reason, topic: topic.slice(0, 256) }, 'publish refused; closing the connection');
    cb(new Error(`publish refused: ${reason}`));
  };

  return {
    sessionOf: (client) => sessions.get(client),

    preConnect(client, packet, cb) {
      rawClientIds.set(client, typeof packet.clientId === 'string' ? packet.clientId : '');
      // The hub keeps no MQTT session state: its durable state (pending C2D) is in SQLite and is
      // delivered on every subscribe. Clients asking for a persistent session get sessionPresent=0.
      packet.clean = true;
      cb(null, true);
    },

    authenticate(client, username, _password, done) {
      let decision: AuthDecision;
      const clientId = rawClientIds.get(client) ?? '';
      try {
        const peer = peerChainOf(client.conn);
        decision = peer.ok
          ? authenticateDevice({
              clientId,
              username: username ?? undefined,
              peerChain: peer.chain,
              record: devices.lookup(clientId),
              inScope: true,
              verifiedCas: cas.verifiedCerts(),
              now: now(),
            })
          : {
              ok: false,
              reason: 'no-client-cert',
              deviceId: clientId,
              thumbprint: undefined,
              detail: peer.detail,
            };
      } catch (err) {
        decision = {
          ok: false,
          reason: 'chain-invalid',
          deviceId: clientId,
          thumbprint: undefined,
          detail: (err as Error).message,
        };
      }
      if (!decision.ok) {
        log.warn(
          {
            deviceId: clientId.slice(0, 128),
            reason: decision.reason,
            detail: decision.detail,
            thumbprint: decision.thumbprint,
          },
          'connection refused',
        );
        const err = new Error('not authorized') as AuthenticateError;
        err.returnCode = 5;
        done(err, false);
        return;
      }
      const actor = actorFor(decision.deviceId);
      sessions.set(client, { deviceId: decision.deviceId, actor, receiver: receiverFor(client, actor) });
      log.debug({ deviceId: decision.deviceId, method: decision.method }, 'device connected');
      done(null, true);
    },

    authorizePublish(client, packet, cb) {
      const session = client ? sessions.get(client) : undefined;
      if (!client || !session) {
        cb(new Error('publish from an unauthenticated connection'));
        return;
      }
      const topic = packet.topic;
      if (packet.qos === 2) return refusePublish(client, 'qos-2-unsupported', topic, cb);
      if (packet.payload.length > MAX_TELEMETRY_BYTES) return refusePublish(client, 'too-large', topic, cb);
      const decision = authorizePublish(topic, session.actor);
      if (!decision.ok) return refusePublish(client, decision.reason, topic, cb);
      const properties = parsePropertyBag(parseTelemetryTopic(topic)?.rawProperties ?? '');
      if (!properties) return refusePublish(client, 'bad-property-bag', topic, cb);
      // IoT Hub keeps no retained messages; it records the flag as an application property instead.
      if (packet.retain) {
        properties['mqtt-retain'] = 'true';
        packet.retain = false;
      }
      try {
        messages.insert({
          deviceId: decision.targetDeviceId,
          connectionDeviceId: session.deviceId,
          properties,
          payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
          receivedAt: now(),
        });
      } catch (err) {
        // Not stored → not acknowledged: the device keeps the message and retries after reconnecting.
        log.error({ err, deviceId: session.deviceId }, 'cannot store telemetry; closing the connection');
        cb(new Error('store failure'));
        return;
      }
      cb(null);
    },

    authorizeSubscribe(client, sub: Subscription, cb) {
      const session = sessions.get(client);
      const decision = session ? authorizeSubscribe(sub.topic, session.actor) : undefined;
      if (!session || !decision?.ok) {
        const reason = decision && !decision.ok ? decision.reason : 'unauthenticated';
        log.warn(
          { deviceId: session?.deviceId, filter: sub.topic.slice(0, 256), reason },
          'subscription refused',
        );
        cb(null, null);
        return;
      }
      // IoT Hub has no QoS 2; cloud-to-device messages go out at QoS 1 at most.
      cb(null, { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 });
    },

    // Defence in depth: the only packets that may leave the hub are cloud-to-device messages to a
    // connection allowed to receive them. Telemetry is stored, never routed.
    authorizeForward(client, packet: AedesPublishPacket) {
      const session = sessions.get(client);
      const target = parseC2dTargetOfTopic(packet.topic);
      if (!session || target === undefined || !session.receiver.mayReceive(target)) return null;
      return packet;
    },
  };
}

/** The device id of a `devices/{id}/messages/devicebound/…` topic. */
function parseC2dTargetOfTopic(topic: string): string | undefined {
  const slash = topic.indexOf('/messages/devicebound/');
  if (slash < 0 || !topic.startsWith('devices/')) return undefined;
  return parseC2dFilter(`${topic.slice(0, slash)}/messages/devicebound/#`);
}
