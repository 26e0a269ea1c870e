import { DEVICE_ID_PATTERN, isDeviceId } from '../registry/device.ts';

/**
 * IoT Hub's MQTT dialect, shared by the hub and the gateway so both read topics the same way.
 * Telemetry: devices/{id}/messages/events/{property-bag}; C2D: devices/{id}/messages/devicebound/{property-bag}.
 */
const TELEMETRY = /^devices\/([^/]+)\/messages\/events(?:\/(.*))?$/;
const C2D_FILTER = /^devices\/([^/]+)\/messages\/devicebound\/#$/;

export interface TelemetryTopic {
  readonly deviceId: string;
  /** The raw property bag as it appeared after `events/` (URL-encoded `k=v&k2=v2`). */
  readonly rawProperties: string;
}

export function parseTelemetryTopic(topic: string): TelemetryTopic | undefined {
  const m = TELEMETRY.exec(topic);
  const deviceId = m?.[1];
  if (!m || !isDeviceId(deviceId)) return undefined;
  return { deviceId, rawProperties: m[2] ?? '' };
}

/** The device id of a `devices/{id}/messages/devicebound/#` filter, the only C2D subscription allowed. */
export function parseC2dFilter(filter: string): string | undefined {
  const id = C2D_FILTER.exec(filter)?.[1];
  return isDeviceId(id) ? id : undefined;
}

export const telemetryTopic = (deviceId: string, rawProperties = ''): string =>
  `devices/${deviceId}/messages/events/${rawProperties}`;
export const c2dFilter = (deviceId: string): string => `devices/${deviceId}/messages/devicebound/#`;
export const c2dTopic = (deviceId: string, rawProperties = ''): string =>
  `devices/${deviceId}/messages/devicebound/${rawProperties}`;

/** Longest property bag accepted; IoT Hub caps application properties well below this. */
export const MAX_PROPERTY_BAG = 8192;

/**
 * Parses `k=v&k2=v2` (URL-encoded, as the SDKs write it). Returns undefined for a bag that is too long
 * or not decodable, so callers can refuse it rather than store half of it.
 */
export function parsePropertyBag(raw: string): Record<string, string> | undefined {
  if (raw.length > MAX_PROPERTY_BAG) return undefined;
  const out: Record<string, string> = Object.create(null);
  if (raw === '') return out;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    try {
      const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      out[k] = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    } catch {
      return undefined;
    }
  }
  return out;
}

export function formatPropertyBag(props: Readonly<Record<string, string>>): string {
  return Object.entries(props)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

/**
 * The device an MQTT username names: `{host}/{deviceId}/?api-version=…` (IoT Hub and the SDKs), with
 * an optional module part, or the bare device id. Returns undefined when it names none.
 */
export function deviceIdFromUsername(username: string): string | undefined {
  if (DEVICE_ID_PATTERN.test(username)) return username;
  const parts = username.split('/');
  const id = parts[1];
  if (parts.length >= 3 && (parts[0] ?? '').length > 0 && isDeviceId(id)) {
    const rest = parts.slice(2).join('/');
    if (rest === '' || rest.startsWith('?') || rest.startsWith('api-version')) return id;
  }
  return undefined;
}

export function iotHubUsername(host: string, deviceId: string): string {
  return `${host}/${deviceId}/?api-version=2021-04-12`;
}
