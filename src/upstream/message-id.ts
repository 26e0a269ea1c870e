import { randomUUID } from 'node:crypto';
import { parsePropertyBag } from '../iothub/topics.ts';

/**
 * IoT Hub's message-id system property. The Azure IoT SDKs send it in the property bag as `$.mid`
 * (URL-encoded `%24.mid`); receivers drop duplicates by it. Store-and-forward is at-least-once, so a
 * message the gateway resends after a lost PUBACK must carry the same id both times: it is added once,
 * before the message is stored, and the stored topic is what every (re)send publishes.
 */
export const MESSAGE_ID_PROPERTY = '$.mid';

const EVENTS = /^(devices\/[^/]+\/messages\/events)(?:\/(.*))?$/;

/**
 * The telemetry topic with a `$.mid` property appended when the device gave none; otherwise the topic
 * unchanged. A topic that is not telemetry or whose bag does not decode is returned unchanged: the
 * broker has already judged it, and rewriting what we cannot read could alter the device's properties.
 */
export function withMessageId(topic: string, newId: () => string = randomUUID): string {
  const m = EVENTS.exec(topic);
  if (!m) return topic;
  const bag = m[2] ?? '';
  const props = parsePropertyBag(bag);
  if (!props || props[MESSAGE_ID_PROPERTY] !== undefined) return topic;
  const added = `${encodeURIComponent(MESSAGE_ID_PROPERTY)}=${encodeURIComponent(newId())}`;
  if (bag === '') return `${m[1]}/${added}`;
  return `${m[1]}/${bag.endsWith('&') ? bag : `${bag}&`}${added}`;
}
