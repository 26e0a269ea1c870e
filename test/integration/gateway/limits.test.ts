import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { TestCred } from '../../helpers/pki.ts';
import { deviceRecord, FakeForwarder, FakeRegistry } from '../../unit/broker/fakes.ts';
import {
  closed,
  connectDevice,
  eventually,
  type GatewayEnv,
  httpGet,
  refusal,
  startGatewayEnv,
} from './helpers.ts';

let env: GatewayEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** A gateway with in-memory registry and forwarder (no upstream traffic) and the given limits. */
async function limited(
  limits: string,
): Promise<{ env: GatewayEnv; registry: FakeRegistry; forwarder: FakeForwarder }> {
  const registry = new FakeRegistry();
  const forwarder = new FakeForwarder();
  const e = await startGatewayEnv({
    extraToml: `[gateway.limits]\n${limits}\n`,
    gatewayOptions: { registry, forwarder },
  });
  return { env: e, registry, forwarder };
}

async function device(e: GatewayEnv, registry: FakeRegistry, id: string): Promise<TestCred> {
  const cred = await e.pki.selfSigned(id);
  registry.add(deviceRecord(id, { type: 'selfSigned', primaryThumbprint: cred.cert.sha256 }));
  return cred;
}

const metric = async (e: GatewayEnv, name: string): Promise<string> =>
  e.gw.metrics.registry.getSingleMetricAsString(name);

function tcpOpen(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}
function whenClosed(s: Socket, ms = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.on('close', () => {
      clearTimeout(t);
      resolve(true);
    });
    s.on('error', () => {});
    s.resume();
  });
}

describe('[gateway.limits]', () => {
  it('closes a connection that completes neither TLS nor CONNECT within handshake_timeout_ms, not a connected one', async () => {
    // Long enough for a real device on a busy machine, short enough for the test.
    const s = await limited('handshake_timeout_ms = 1000');
    env = s.env;
    const cred = await device(env, s.registry, 'ok-dev');
    const silentTcp = await tcpOpen(env.gw.port);
    const silentTls = tlsConnect({
      host: '127.0.0.1',
      port: env.gw.port,
      ca: env.deviceTrustPem,
      servername: 'localhost',
    });
    silentTls.on('error', () => {});
    const client = await connectDevice(env, 'ok-dev', cred);
    expect(await whenClosed(silentTcp)).toBe(true);
    expect(await whenClosed(silentTls as unknown as Socket)).toBe(true);
    await eventually(async () =>
      /limit="handshake-timeout"} 2/.test(await metric(env as GatewayEnv, 'gatehouse_limit_refusals_total')),
    );
    // The authenticated device outlived the deadline and still works.
    await client.publishAsync('devices/ok-dev/messages/events/', 'x', { qos: 1 });
    expect(client.connected).toBe(true);
    await client.endAsync();
    expect(env.logs.filter((l) => l.limit === 'handshake-timeout').length).toBe(1);
  });

  it('refuses connections beyond max_connections', async () => {
    const s = await limited('max_connections = 2');
    env = s.env;
    const held = [await tcpOpen(env.gw.port), await tcpOpen(env.gw.port)];
    await eventually(() => env?.gw.metrics.stats.connectionsOpen === 2);
    const third = await tcpOpen(env.gw.port);
    expect(await whenClosed(third)).toBe(true);
    expect(await metric(env, 'gatehouse_limit_refusals_total')).toContain('limit="max-connections"} 1');
    for (const h of held) h.destroy();
    await eventually(() => env?.gw.metrics.stats.connectionsOpen === 0);
  });

  it('refuses a burst from one source beyond connections_per_second_per_source (burst 2 × rate), logging once', async () => {
    const s = await limited('connections_per_second_per_source = 1');
    env = s.env;
    const sockets = [await tcpOpen(env.gw.port), await tcpOpen(env.gw.port)];
    const refused = await Promise.all([tcpOpen(env.gw.port), tcpOpen(env.gw.port)]);
    for (const r of refused) expect(await whenClosed(r)).toBe(true);
    expect(await metric(env, 'gatehouse_limit_refusals_total')).toContain('limit="source-rate"} 2');
    expect(env.logs.filter((l) => l.limit === 'source-rate')).toHaveLength(1);
    for (const x of sockets) x.destroy();
  });

  it('closes a device that sends a packet above max_packet_bytes; nothing is forwarded', async () => {
    const s = await limited('max_packet_bytes = 1024');
    env = s.env;
    const cred = await device(env, s.registry, 'big-dev');
    const client = await connectDevice(env, 'big-dev', cred);
    client.publish('devices/big-dev/messages/events/', Buffer.alloc(4096, 1), { qos: 1 });
    await closed(client);
    expect(s.forwarder.enqueued).toEqual([]);
    expect(await metric(env, 'gatehouse_limit_refusals_total')).toContain('limit="packet-size"} 1');
  });

  it('refuses a keep-alive above keepalive_max_secs with CONNACK 5', async () => {
    const s = await limited('keepalive_max_secs = 60');
    env = s.env;
    const cred = await device(env, s.registry, 'ka-dev');
    expect(await refusal(env, 'ka-dev', cred, { keepalive: 61 })).toBe(5);
    expect(await refusal(env, 'ka-dev', cred, { keepalive: 60 })).toBeUndefined();
  });
});

describe('metrics and health endpoint', () => {
  it('serves Prometheus text with the broker, registry and upstream series, and health JSON', async () => {
    const s = await limited('max_connections = 100');
    env = s.env;
    const cred = await device(env, s.registry, 'm-dev');
    expect(await refusal(env, 'nobody', cred)).toBe(5);
    const c = await connectDevice(env, 'm-dev', cred);
    await c.publishAsync('devices/m-dev/messages/events/', 'x', { qos: 1 });
    const port = env.gw.metricsPort as number;
    const metrics = await httpGet(port, '/metrics');
    expect(metrics.status).toBe(200);
    for (const line of [
      'gatehouse_connections_open 1',
      'gatehouse_tls_handshakes_ok_total 2',
      'gatehouse_auth_accepted_total 1',
      'gatehouse_auth_refusals_total{reason="unknown-device"} 1',
      'gatehouse_messages_in_total{qos="1"} 1',
      'gatehouse_registry_devices 1',
      'gatehouse_registry_state{state="synced"} 1',
      'gatehouse_upstream_state{state="connected"} 1',
    ]) {
      expect(metrics.text).toContain(line);
    }
    expect(await httpGet(port, '/health')).toMatchObject({ status: 200, body: { status: 'ready' } });
    s.forwarder.upstreamState = 'offline';
    expect(await httpGet(port, '/health')).toMatchObject({
      status: 200,
      body: { status: 'degraded', upstream: 'offline' },
    });
    expect((await httpGet(port, '/nope')).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(405);
    await c.endAsync();
  });
});
