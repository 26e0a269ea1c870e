import { describe, expect, it } from 'vitest';
import { type Actor, authorizePublish, authorizeSubscribe } from '../../../src/auth/authorize.ts';

const subtree: Record<string, readonly string[]> = { edge1: ['child1', 'grandchild1'] };
const actor = (deviceId: string): Actor => ({
  deviceId,
  mayActFor: (t) => (subtree[deviceId] ?? []).includes(t),
});

describe('topic authorization', () => {
  it('lets a device publish its own telemetry only', () => {
    expect(authorizePublish('devices/s1/messages/events/a=1', actor('s1'))).toEqual({
      ok: true,
      targetDeviceId: 's1',
    });
    expect(authorizePublish('devices/s2/messages/events/', actor('s1'))).toEqual({
      ok: false,
      reason: 'not-on-behalf',
    });
    expect(authorizePublish('devices/s1/messages/devicebound/x', actor('s1'))).toEqual({
      ok: false,
      reason: 'not-telemetry',
    });
    expect(authorizePublish('$SYS/anything', actor('s1'))).toEqual({ ok: false, reason: 'not-telemetry' });
  });

  it('lets an edge device act for its subtree and nobody else', () => {
    expect(authorizePublish('devices/grandchild1/messages/events/', actor('edge1')).ok).toBe(true);
    expect(authorizeSubscribe('devices/child1/messages/devicebound/#', actor('edge1')).ok).toBe(true);
    expect(authorizePublish('devices/other/messages/events/', actor('edge1'))).toEqual({
      ok: false,
      reason: 'not-on-behalf',
    });
    expect(authorizeSubscribe('devices/edge1/messages/devicebound/#', actor('child1')).ok).toBe(false);
  });

  it('refuses wildcard and foreign subscriptions', () => {
    expect(authorizeSubscribe('devices/s1/messages/devicebound/#', actor('s1')).ok).toBe(true);
    for (const f of [
      '#',
      'devices/+/messages/devicebound/#',
      'devices/s1/messages/events/#',
      '$iothub/twin/res/#',
    ]) {
      expect(authorizeSubscribe(f, actor('s1')), f).toEqual({ ok: false, reason: 'not-c2d' });
    }
  });
});
