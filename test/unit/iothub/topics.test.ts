import { describe, expect, it } from 'vitest';
import {
  c2dFilter,
  deviceIdFromUsername,
  formatPropertyBag,
  iotHubUsername,
  MAX_PROPERTY_BAG,
  parseC2dFilter,
  parsePropertyBag,
  parseTelemetryTopic,
  telemetryTopic,
} from '../../../src/iothub/topics.ts';

describe('IoT Hub topics', () => {
  it('parses telemetry topics with and without a property bag', () => {
    expect(parseTelemetryTopic('devices/s1/messages/events/')).toEqual({ deviceId: 's1', rawProperties: '' });
    expect(parseTelemetryTopic('devices/s1/messages/events')).toEqual({ deviceId: 's1', rawProperties: '' });
    expect(parseTelemetryTopic('devices/s1/messages/events/a=1&b=x%20y')).toEqual({
      deviceId: 's1',
      rawProperties: 'a=1&b=x%20y',
    });
    expect(parseTelemetryTopic(telemetryTopic('dev-2', 'k=v'))?.deviceId).toBe('dev-2');
  });

  it('refuses topics that are not telemetry or name no valid device', () => {
    for (const topic of [
      'devices/s1/messages/devicebound/x',
      'devices//messages/events/',
      'devices/+/messages/events/',
      'devices/#/messages/events/',
      'foo/s1/messages/events/',
      '$iothub/twin/GET/?$rid=1',
      `devices/${'a'.repeat(129)}/messages/events/`,
    ]) {
      expect(parseTelemetryTopic(topic), topic).toBeUndefined();
    }
  });

  it('accepts only the exact C2D filter', () => {
    expect(parseC2dFilter(c2dFilter('s1'))).toBe('s1');
    expect(parseC2dFilter('devices/s1/messages/devicebound/+')).toBeUndefined();
    expect(parseC2dFilter('devices/+/messages/devicebound/#')).toBeUndefined();
    expect(parseC2dFilter('devices/#')).toBeUndefined();
    expect(parseC2dFilter('#')).toBeUndefined();
  });

  it('round-trips property bags and refuses undecodable or oversize ones', () => {
    const props = { 'content type': 'application/json', $: 'x&y=z', empty: '' };
    expect(parsePropertyBag(formatPropertyBag(props))).toEqual(props);
    expect(parsePropertyBag('flag')).toEqual({ flag: '' });
    expect(parsePropertyBag('a=%E0%A4%A')).toBeUndefined();
    expect(parsePropertyBag('a='.padEnd(MAX_PROPERTY_BAG + 1, 'x'))).toBeUndefined();
    expect(Object.getPrototypeOf(parsePropertyBag('__proto__=1'))).toBeNull();
  });

  it('reads the device id from IoT Hub usernames and bare ids', () => {
    expect(deviceIdFromUsername(iotHubUsername('hub.example', 'dev1'))).toBe('dev1');
    expect(deviceIdFromUsername('hub.example/dev1/?api-version=2021-04-12&DeviceClientType=x')).toBe('dev1');
    expect(deviceIdFromUsername('hub.example/dev1/')).toBe('dev1');
    expect(deviceIdFromUsername('dev1')).toBe('dev1');
    expect(deviceIdFromUsername('/dev1/')).toBeUndefined();
    expect(deviceIdFromUsername('hub/dev1')).toBeUndefined();
    expect(deviceIdFromUsername('hub/de+v/?api-version=1')).toBeUndefined();
  });
});
