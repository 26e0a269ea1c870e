import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.ts';
import { createGateway } from '../../../src/gateway.ts';
import { telemetryTopic } from '../../../src/iothub/topics.ts';
import { silentLogger } from '../../../src/logger.ts';
import { createScopeClient } from '../../../src/registry/index.ts';
import type { TestCred } from '../../helpers/pki.ts';
import { until } from '../../helpers/wait.ts';
import { buildHierarchy, type Hierarchy } from './layers.ts';

const closed = (c: MqttClient): Promise<void> =>
  new Promise((resolve) => (c.disconnected || !c.connected ? resolve() : c.once('close', () => resolve())));

describe('hub ← L1 ← L2 ← L3 ← sensor', () => {
  let h: Hierarchy;
  let sensorA: TestCred;

  beforeAll(async () => {
    h = await buildHierarchy(3);
    sensorA = await h.pki.device('sensor-a');
    await h.hub.admin.addDevice({
      deviceId: 'sensor-a',
      auth: { type: 'certificateAuthority' },
      parentId: 'layer-3',
    });
    // A sibling of layer 3 (under layer 2) and a device directly under layer 1.
    await h.hub.admin.addDevice({
      deviceId: 'sibling-dev',
      auth: { type: 'certificateAuthority' },
      parentId: 'layer-2',
    });
    await h.hub.admin.addDevice({
      deviceId: 'top-dev',
      auth: { type: 'certificateAuthority' },
      parentId: 'layer-1',
    });
    for (const l of h.layers) await l.start();
    await h.syncAll();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('carries telemetry up with the original device id, arriving through layer 1, and C2D down', async () => {
    const c = await h.connect(3, 'sensor-a', sensorA);
    const received = new Promise<string>((resolve) => c.on('message', (_t, p) => resolve(p.toString())));
    await c.subscribeAsync('devices/sensor-a/messages/devicebound/#', { qos: 1 });
    await c.publishAsync(telemetryTopic('sensor-a', 'layer=3&k=v'), 'up-from-l3', { qos: 1 });
    const msg = await until('telemetry at the hub', async () =>
      (await h.hub.admin.messages({ deviceId: 'sensor-a' })).find((m) => m.payloadText === 'up-from-l3'),
    );
    expect(msg.connectionDeviceId).toBe('layer-1');
    expect(msg.properties).toMatchObject({ layer: '3', k: 'v' });

    // The C2D subscription travels L3 → L2 → L1 → hub asynchronously; keep sending until one lands.
    const text = await until('cloud-to-device at the sensor', async () => {
      await h.hub.admin.sendC2d('sensor-a', 'down-to-l3');
      return Promise.race([received, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000))]);
    });
    expect(text).toBe('down-to-l3');
    await c.endAsync();
  });

  it('admits a device registered at the hub at layer 3 after the syncs, and drops one disabled at the hub', async () => {
    const sensorB = await h.pki.device('sensor-b');
    await h.hub.admin.addDevice({
      deviceId: 'sensor-b',
      auth: { type: 'certificateAuthority' },
      parentId: 'layer-3',
    });
    await h.syncAll();
    const b = await h.connect(3, 'sensor-b', sensorB);
    expect(b.connected).toBe(true);

    await h.hub.admin.updateDevice('sensor-b', { status: 'disabled' });
    await h.syncAll();
    await until('sensor-b dropped', async () => (b.connected ? undefined : true), 10_000);
    await closed(b);
    await expect(h.connect(3, 'sensor-b', sensorB)).rejects.toMatchObject({ code: 5 });
  });

  it('refuses layer 2 asking layer 1 for a device outside its subtree, or for another edge scope', async () => {
    const l1 = h.layer(1);
    const l2 = h.layer(2);
    const client = (edgeDeviceId: string) =>
      createScopeClient({
        host: '127.0.0.1',
        port: l1.gw.scopeApiPort ?? 0,
        servername: l1.hostname,
        edgeDeviceId,
        caPem: h.pki.root.cert.pem,
        certPem: l2.identity.chainPem,
        keyPem: l2.identity.keyPem,
      });
    const asL2 = client('layer-2');
    expect((await asL2.fetchOne('sensor-a')).device?.deviceId).toBe('sensor-a');
    expect((await asL2.fetchOne('top-dev')).device).toBeNull();
    const page = await asL2.fetchPage(null);
    const ids = page.devices.map((d) => d.deviceId).sort();
    expect(ids).toContain('layer-3');
    expect(ids).toContain('sibling-dev');
    expect(ids).not.toContain('top-dev');
    expect(ids).not.toContain('layer-2');
    // Layer 2's certificate asking for layer 1's own scope.
    await expect(client('layer-1').fetchPage(null)).rejects.toThrow();
  });

  it('refuses a loop: layer 1 configured with its own descendant (layer 2) as parent gets nowhere', async () => {
    const l1 = h.layer(1);
    const l2 = h.layer(2);
    const text = (await readFile(l1.configPath, 'utf8'))
      .replace(
        /^trust_bundle_cert = .*$/m,
        `trust_bundle_cert = "${join(h.dir, 'certs', 'root.pem')}"\nparent_hostname = "${l2.hostname}"`,
      )
      .replace(/^data_dir = .*$/m, `data_dir = "${join(h.dir, 'data-loop')}"`)
      .replace(/^upstream_mqtt_port = .*$/m, `upstream_mqtt_port = ${l2.gw.port}`)
      .replace(/^upstream_api_port = .*$/m, `upstream_api_port = ${l2.gw.scopeApiPort}`);
    const path = join(h.dir, 'loop.toml');
    await writeFile(path, text);
    const looped = await createGateway({ config: await loadConfig(path), logger: silentLogger() });
    try {
      // Layer 2 does not know layer 1 as a device of its subtree: both its scope API and its broker refuse.
      expect(await looped.registry.syncNow?.()).toBe(false);
      expect(looped.registry.status().lastError).toMatch(/403|refused|unauthorized/i);
      await until(
        'upstream refused',
        async () => (looped.forwarder.state() === 'refused' ? true : undefined),
        15_000,
      );
    } finally {
      await looped.close();
    }
  });

  it('keeps admitting and buffering at layer 3 while layer 1 cannot reach the hub, then delivers in order', async () => {
    await h.hub.close();
    const c = await h.connect(3, 'sensor-a', sensorA);
    for (let i = 1; i <= 20; i++)
      await c.publishAsync(telemetryTopic('sensor-a'), `offline-${i}`, { qos: 1 });
    await c.endAsync();
    await h.restartHub();
    const got = await until(
      'buffered messages at the hub',
      async () => {
        const all = (await h.hub.admin.messages({ deviceId: 'sensor-a', limit: 1000 })).map(
          (m) => m.payloadText ?? '',
        );
        const offline = all.filter((p) => p.startsWith('offline-'));
        return offline.length >= 20 ? offline : undefined;
      },
      60_000,
    );
    const firstSeen = [...new Set(got)];
    expect(firstSeen).toEqual(Array.from({ length: 20 }, (_, i) => `offline-${i + 1}`));
  });

  it("refuses layer 3 publishing for its sibling's device", async () => {
    // Last, with layer 3's own gateway stopped: its identity connects to layer 2 directly.
    const l3 = h.layer(3);
    await l3.gw.close();
    const asL3 = await h.connect(2, 'layer-3', l3.identity);
    const before = (await h.hub.admin.messages({ deviceId: 'sibling-dev' })).length;
    const acked = await Promise.race([
      asL3.publishAsync(telemetryTopic('sibling-dev'), 'forged', { qos: 1 }).then(
        () => 'acked',
        () => 'refused',
      ),
      new Promise<string>((r) => setTimeout(() => r('no-puback'), 3000)),
    ]);
    expect(acked).not.toBe('acked');
    // Its own subtree still works on a fresh connection.
    asL3.end(true);
    const again = await h.connect(2, 'layer-3', l3.identity);
    await again.publishAsync(telemetryTopic('sensor-a'), 'legit-from-l3-identity', { qos: 1 });
    await until('legit message at the hub', async () =>
      (await h.hub.admin.messages({ deviceId: 'sensor-a', limit: 1000 })).find(
        (m) => m.payloadText === 'legit-from-l3-identity',
      ),
    );
    expect((await h.hub.admin.messages({ deviceId: 'sibling-dev' })).length).toBe(before);
    again.end(true);
  });
});
