import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { TestCred } from '../../helpers/pki.ts';
import {
  connectDevice,
  type GatewayEnv,
  httpGet,
  refusal,
  refusalsFor,
  startGatewayEnv,
  thumbprintAuth,
} from './helpers.ts';

let env: GatewayEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** A gateway that synced once, then was stopped; the hub is stopped too. */
async function syncedThenStopped(): Promise<{ env: GatewayEnv; device: TestCred; attacker: TestCred }> {
  const e = await startGatewayEnv();
  const device = await e.pki.selfSigned('r-dev');
  const attacker = await e.pki.selfSigned('r-dev');
  await e.addDevice('r-dev', thumbprintAuth(device));
  await e.sync();
  await e.gw.close();
  await e.stopHub();
  return { env: e, device, attacker };
}

describe('gateway start-up without its upstream', () => {
  it('serves devices from the registry snapshot while the hub is down, and reports degraded health', async () => {
    const s = await syncedThenStopped();
    env = s.env;
    const gw = await env.startGateway();
    expect(['stale', 'offline']).toContain(gw.registry.status().state);
    const c = await connectDevice(env, 'r-dev', s.device);
    expect(c.connected).toBe(true);
    await c.endAsync();
    expect(await refusal(env, 'r-dev', s.attacker)).toBe(5);
    const health = await httpGet(gw.metricsPort as number, '/health');
    expect(health.status).toBe(200);
    // The scope is the gateway's subtree: the one device (the gateway itself is not in it).
    expect(health.body).toMatchObject({ status: 'degraded', registrySize: 1 });
  });

  it('does not trust a tampered snapshot: it is set aside, nobody gets in until a sync succeeds', async () => {
    const s = await syncedThenStopped();
    env = s.env;
    const dbPath = join(env.config.gateway.dataDir, 'registry.db');
    const db = new Database(dbPath);
    const row = db.prepare('SELECT json FROM records WHERE device_id = ?').get('r-dev') as { json: string };
    db.prepare('UPDATE records SET json = ? WHERE device_id = ?').run(
      row.json.replace(s.device.cert.sha256, s.attacker.cert.sha256),
      'r-dev',
    );
    db.close();

    const gw = await env.startGateway();
    expect(gw.registry.status().state).toBe('empty');
    expect(existsSync(`${dbPath}.corrupt`)).toBe(true);
    expect(await refusal(env, 'r-dev', s.attacker)).toBe(5);
    expect(await refusal(env, 'r-dev', s.device)).toBe(5);
    expect(refusalsFor(env, 'r-dev').length).toBeGreaterThanOrEqual(2);
    const health = await httpGet(gw.metricsPort as number, '/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'offline', registry: 'empty' });

    await env.restartHub();
    await env.sync();
    const c = await connectDevice(env, 'r-dev', s.device);
    expect(c.connected).toBe(true);
    await c.endAsync();
    expect(await refusal(env, 'r-dev', s.attacker)).toBe(5);
  });
});
