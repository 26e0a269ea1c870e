import { afterEach, describe, expect, it } from 'vitest';
import type { HubHandle } from '../../../src/hub/index.ts';
import type { Upstream } from '../../../src/upstream/index.ts';
import { POISON_STRIKES } from '../../../src/upstream/sender.ts';
import type { C2dMessage } from '../../../src/upstream/types.ts';
import { makeTempDir } from '../../helpers/pki.ts';
import {
  GATEWAY_ID,
  makeIdentity,
  payloadNumber,
  SENSOR_IDS,
  startTestHub,
  telemetry,
  upstreamFor,
  waitFor,
  waitForMessages,
} from './helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  // Reverse order: upstreams close before the hub, temp dirs go last.
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{
  hub: HubHandle;
  upstream: Upstream;
  hubDir: string;
  gwDir: string;
  identity: Awaited<ReturnType<typeof makeIdentity>>;
}> {
  const hubTmp = await makeTempDir('gh-up-hub-');
  const gwTmp = await makeTempDir('gh-up-gw-');
  cleanups.push(hubTmp.cleanup, gwTmp.cleanup);
  const identity = await makeIdentity();
  const hub = await startTestHub(hubTmp.dir, identity);
  cleanups.push(() => hub.close());
  const upstream = upstreamFor(hub, identity, gwTmp.dir);
  cleanups.push(() => upstream.close());
  return { hub, upstream, hubDir: hubTmp.dir, gwDir: gwTmp.dir, identity };
}

describe('upstream link to the mock hub', () => {
  it('forwards on behalf of a sensor: hub sees the sensor as deviceId, the gateway as connection', async () => {
    const { hub, upstream } = await setup();
    await waitFor(() => upstream.state() === 'connected', 10_000, 'connected', upstream);

    await upstream.enqueue(telemetry('sensor-a', 1, 'temp=21&unit=%C2%B0C'));
    await upstream.enqueue(telemetry('sensor-a', 2, `%24.mid=device-given-id&%24.ct=application%2Fjson`));

    const got = await waitForMessages(hub, 2, 10_000);
    expect(got).toHaveLength(2);
    const [first, second] = got;
    expect(first?.deviceId).toBe('sensor-a');
    expect(first?.connectionDeviceId).toBe(GATEWAY_ID);
    expect(first?.properties.temp).toBe('21');
    expect(first?.properties.unit).toBe('°C');
    // The gateway added a message id the sensor did not give.
    expect(first?.properties['$.mid']).toMatch(/^[0-9a-f-]{36}$/);
    // A device-given id is kept, not replaced.
    expect(second?.properties['$.mid']).toBe('device-given-id');
    expect(second?.properties['$.ct']).toBe('application/json');
    expect(got.map(payloadNumber)).toEqual([1, 2]);

    await waitFor(() => upstream.stats().queued === 0, 5_000, 'store drained', upstream);
    const s = upstream.stats();
    expect(s.sent).toBe(2);
    expect(s.enqueued).toBe(2);
    expect(s.connects).toBe(1);
  });

  it('sets aside a message the hub keeps refusing (device outside its subtree) so the queue moves on', async () => {
    const { hub, upstream } = await setup();
    await hub.admin.addDevice({ deviceId: 'stranger', auth: { type: 'certificateAuthority' } });
    await waitFor(() => upstream.state() === 'connected', 10_000, 'connected', upstream);
    await upstream.enqueue(telemetry('stranger', 1));
    await upstream.enqueue(telemetry('sensor-a', 2));
    // The hub closes the connection on each refused publish; after POISON_STRIKES reconnects it is set aside.
    const got = await waitForMessages(hub, 1, 20_000);
    expect(got.map((m) => m.deviceId)).toEqual(['sensor-a']);
    expect(await hub.admin.messages({ deviceId: 'stranger' })).toHaveLength(0);
    const s = upstream.stats();
    expect(s.rejected).toBe(1);
    expect(s.connects).toBeGreaterThanOrEqual(POISON_STRIKES);
    await waitFor(() => upstream.stats().queued === 0, 5_000, 'store drained', upstream);
  });

  it('queues while the hub is down and drains in order, nothing lost, when it returns', async () => {
    const { hub, upstream, hubDir } = await setup();
    await waitFor(() => upstream.state() === 'connected', 10_000, 'connected', upstream);
    const ports = { mqttPort: hub.mqttPort, apiPort: hub.apiPort };
    await upstream.enqueue(telemetry('sensor-a', 0));
    await waitForMessages(hub, 1, 10_000);
    await hub.close();
    await waitFor(() => upstream.state() !== 'connected', 10_000, 'link down', upstream);

    const perDevice = 200;
    const pending: Promise<void>[] = [];
    for (let n = 1; n <= perDevice; n++) {
      for (const id of SENSOR_IDS) pending.push(upstream.enqueue(telemetry(id, n)));
    }
    await Promise.all(pending);
    expect(upstream.stats().queued).toBe(perDevice * SENSOR_IDS.length);
    expect(upstream.state()).not.toBe('connected');

    const back = await startTestHub(hubDir, undefined, ports);
    cleanups.push(() => back.close());
    const total = 1 + perDevice * SENSOR_IDS.length;
    const got = await waitForMessages(back, total, 20_000);
    expect(got).toHaveLength(total);
    for (const id of SENSOR_IDS) {
      const ns = got.filter((m) => m.deviceId === id).map(payloadNumber);
      const expected = Array.from({ length: perDevice }, (_, i) => i + 1);
      // At-least-once with in-order delivery per device (sensor-a also has its message 0 from before).
      expect(ns.filter((n) => n > 0)).toEqual(expected);
    }
    await waitFor(() => upstream.stats().queued === 0, 10_000, 'store drained', upstream);
  });

  it('delivers C2D after watchC2d, and again after the link reconnects', async () => {
    const { hub, upstream, hubDir } = await setup();
    const received: C2dMessage[] = [];
    upstream.onC2d((m) => {
      received.push(m);
    });
    upstream.watchC2d('sensor-b');
    upstream.watchC2d('sensor-b'); // refcounted: a second watcher
    await waitFor(() => upstream.state() === 'connected', 10_000, 'connected', upstream);

    await hub.admin.sendC2d('sensor-b', 'first', { k: 'v' });
    await waitFor(() => received.length === 1, 20_000, 'first C2D', upstream);
    expect(received[0]?.deviceId).toBe('sensor-b');
    expect(received[0]?.payload.toString()).toBe('first');
    expect(received[0]?.topic).toMatch(/^devices\/sensor-b\/messages\/devicebound\/.*k=v/);

    // Restart the hub: the link reconnects and must resubscribe on its own.
    const ports = { mqttPort: hub.mqttPort, apiPort: hub.apiPort };
    await hub.close();
    await waitFor(() => upstream.state() !== 'connected', 10_000, 'link down', upstream);
    const back = await startTestHub(hubDir, undefined, ports);
    cleanups.push(() => back.close());
    await waitFor(() => upstream.state() === 'connected', 20_000, 'reconnected', upstream);
    // C2D is at-least-once: 'first' may come again if its PUBACK was lost with the old connection.
    const payloads = (): string[] => [...new Set(received.map((m) => m.payload.toString()))];
    await back.admin.sendC2d('sensor-b', 'second');
    await waitFor(() => payloads().includes('second'), 20_000, 'second C2D after reconnect', upstream);

    // One unwatch leaves the other watcher; the last one ends the subscription.
    upstream.unwatchC2d('sensor-b');
    await back.admin.sendC2d('sensor-b', 'third');
    await waitFor(() => payloads().includes('third'), 20_000, 'third C2D with one watcher left', upstream);
    upstream.unwatchC2d('sensor-b');
    await waitFor(() => upstream.stats().c2dWatched === 0, 1_000, 'unwatched', upstream);
    await back.admin.sendC2d('sensor-b', 'fourth');
    await new Promise((r) => setTimeout(r, 500));
    expect(payloads()).toEqual(['first', 'second', 'third']);
  });

  it('holds C2D for a device the handler could not take, bounded, and offers it again on watch', async () => {
    const { hub, upstream } = await setup();
    let online = false;
    const delivered: string[] = [];
    upstream.onC2d((m) => {
      if (!online) return false;
      delivered.push(m.payload.toString());
      return true;
    });
    upstream.watchC2d('sensor-c');
    await waitFor(() => upstream.state() === 'connected', 10_000, 'connected', upstream);
    await hub.admin.sendC2d('sensor-c', 'held');
    await waitFor(() => upstream.stats().c2dHeld === 1, 10_000, 'held', upstream);
    expect(delivered).toEqual([]);
    online = true;
    upstream.watchC2d('sensor-c');
    expect(delivered).toEqual(['held']);
    expect(upstream.stats().c2dHeld).toBe(0);
  });

  it('QoS 0: forwarded at once when connected, dropped and counted (never stored) when offline', async () => {
    const { hub, upstream } = await setup();
    upstream.forwardBestEffort({ ...telemetry('sensor-a', 1), qos: 0 });
    expect(upstream.stats().bestEffortDropped).toBe(1); // still connecting
    await waitFor(() => upstream.state() === 'connected', 10_000, 'connected', upstream);
    upstream.forwardBestEffort({ ...telemetry('sensor-a', 2, 'k=v'), qos: 0 });
    const got = await waitForMessages(hub, 1, 10_000);
    expect(got.map(payloadNumber)).toEqual([2]);
    expect(got[0]?.properties).toEqual({ k: 'v' });
    expect(upstream.stats()).toMatchObject({
      bestEffortSent: 1,
      bestEffortDropped: 1,
      queued: 0,
      enqueued: 0,
    });
  });
});
