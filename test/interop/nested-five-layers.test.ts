import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../src/errors.ts';
import { telemetryTopic } from '../../src/iothub/topics.ts';
import { buildHierarchy, type Hierarchy } from '../integration/nested/layers.ts';

// The slower suite: five gateway layers (IoT Edge's maximum) on loopback, and the sixth refused.
describe('five gateway layers', () => {
  let h: Hierarchy;
  beforeAll(async () => {
    h = await buildHierarchy(5);
    for (const l of h.layers) await l.start();
    await h.syncAll();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('carries telemetry from a sensor under layer 5 to the hub, arriving through layer 1', async () => {
    const cred = await h.pki.device('deep-sensor');
    await h.hub.admin.addDevice({
      deviceId: 'deep-sensor',
      auth: { type: 'certificateAuthority' },
      parentId: 'layer-5',
    });
    await h.syncAll();
    const c = await h.connect(5, 'deep-sensor', cred);
    await c.publishAsync(telemetryTopic('deep-sensor', 'depth=5'), 'from-the-bottom', { qos: 1 });
    await c.endAsync();
    const end = Date.now() + 30_000;
    let found: { connectionDeviceId: string; properties: Record<string, string> } | undefined;
    while (!found && Date.now() < end) {
      found = (await h.hub.admin.messages({ deviceId: 'deep-sensor' })).find(
        (m) => m.payloadText === 'from-the-bottom',
      );
      if (!found) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found?.connectionDeviceId).toBe('layer-1');
    expect(found?.properties).toMatchObject({ depth: '5' });
  });

  it('refuses a sixth gateway layer with a clear error', async () => {
    const sixth = await h.pki.device('layer-6');
    const err = await h.hub.admin
      .addDevice({
        deviceId: 'layer-6',
        auth: { type: 'selfSigned', primaryThumbprint: sixth.cert.sha256 },
        edge: true,
        parentId: 'layer-5',
      })
      .catch((e: unknown) => e);
    expect(isGatehouseError(err, 'GH_ERR_SCOPE')).toBe(true);
    expect((err as Error).message).toMatch(/5|layer|depth/i);
    // Never silently accepted downstream either: layer 5 does not admit it.
    await expect(h.connect(5, 'layer-6', sixth)).rejects.toMatchObject({ code: 5 });
  });
});
