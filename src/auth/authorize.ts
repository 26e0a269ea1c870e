import { parseC2dFilter, parseTelemetryTopic } from '../iothub/topics.ts';

export type TopicRefusal = 'not-telemetry' | 'not-c2d' | 'not-on-behalf';

export type TopicDecision =
  | { readonly ok: true; readonly targetDeviceId: string }
  | { readonly ok: false; readonly reason: TopicRefusal };

/**
 * Who is acting: the authenticated device, and for edge devices the devices they may act for
 * (their subtree at the hub). `mayActFor` must be cheap: it runs on every publish.
 */
export interface Actor {
  readonly deviceId: string;
  readonly mayActFor: (deviceId: string) => boolean;
}

/** A device may publish only its own telemetry, or that of a device in its subtree. */
export function authorizePublish(topic: string, actor: Actor): TopicDecision {
  const t = parseTelemetryTopic(topic);
  if (!t) return { ok: false, reason: 'not-telemetry' };
  return onBehalf(t.deviceId, actor);
}

/** A device may subscribe only to `devices/{id}/messages/devicebound/#` for itself or its subtree. */
export function authorizeSubscribe(filter: string, actor: Actor): TopicDecision {
  const id = parseC2dFilter(filter);
  if (!id) return { ok: false, reason: 'not-c2d' };
  return onBehalf(id, actor);
}

function onBehalf(target: string, actor: Actor): TopicDecision {
  if (target === actor.deviceId || actor.mayActFor(target)) return { ok: true, targetDeviceId: target };
  return { ok: false, reason: 'not-on-behalf' };
}
