import { afterEach, describe, expect, it } from 'vitest';
import type { Upstream } from '../../../src/upstream/index.ts';
import { makeCred } from '../../helpers/pki.ts';
import {
  connectDevice,
  eventually,
  GATEWAY_ID,
  type GatewayEnv,
  startGatewayEnv,
  thumbprintAuth,
} from '../gateway/helpers.ts';

/**
 * The full path: sensor → gateway (src/gateway.ts with the real upstream) → mock hub, including a hub
 * outage in the middle: the sensor's QoS 1 publishes are acknowledged from the durable store while the
 * hub is down and reach it, in order, when it is back.
 */
let env: GatewayEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const numbers = (payloads: Array<{ payload: string }>): number[] =>
  payloads.map((m) => Number(Buffer.from(m.payload, 'base64').toString('utf8')));

describe('sensor → gateway → hub through the store', () => {
  it('forwards on behalf of the sensor, and survives a hub outage without losing or reordering', async () => {
    env = await startGatewayEnv();
    const sensor = await makeCred('self-signed-device', 'sensor-s1', undefined);
    await env.addDevice('sensor-s1', thumbprintAuth(sensor));
    await env.sync();
    const upstream = env.gw.forwarder as Upstream;
    await eventually(() => upstream.state() === 'connected');
    const client = await connectDevice(env, 'sensor-s1', sensor);
    try {
      const topic = 'devices/sensor-s1/messages/events/alert=high&%24.ct=text%2Fplain';
      await client.publishAsync(topic, '0', { qos: 1 });
      await eventually(async () => (await env?.hub.admin.messages({ deviceId: 'sensor-s1' }))?.length === 1);
      const [first] = await env.hub.admin.messages({ deviceId: 'sensor-s1' });
      expect(first?.connectionDeviceId).toBe(GATEWAY_ID);
      expect(first?.properties).toMatchObject({ alert: 'high', '$.ct': 'text/plain' });
      expect(first?.properties['$.mid']).toBeTruthy();

      await env.stopHub();
      await eventually(() => upstream.state() !== 'connected');
      // PUBACKs come from the durable store while the hub is away.
      for (let n = 1; n <= 50; n++) await client.publishAsync(topic, String(n), { qos: 1 });
      expect(upstream.stats().queued).toBe(50);

      await env.restartHub();
      await eventually(
        async () => (await env?.hub.admin.messages({ deviceId: 'sensor-s1', limit: 1000 }))?.length === 51,
        20_000,
      );
      const all = await env.hub.admin.messages({ deviceId: 'sensor-s1', limit: 1000 });
      expect(numbers(all)).toEqual(Array.from({ length: 51 }, (_, i) => i));
      expect(all.every((m) => m.connectionDeviceId === GATEWAY_ID)).toBe(true);
    } finally {
      await client.endAsync();
    }
  });
});
