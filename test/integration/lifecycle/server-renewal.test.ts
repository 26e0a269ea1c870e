import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import { isGatehouseError } from '../../../src/errors.ts';
import { createGateway, type Gateway } from '../../../src/gateway.ts';
import { createLogger } from '../../../src/logger.ts';
import {
  makeCred,
  makeTempDir,
  makeTestPki,
  type TestCred,
  type TestPki,
  writeTestCred,
} from '../../helpers/pki.ts';
import { deviceRecord, FakeForwarder, FakeRegistry } from '../../unit/broker/fakes.ts';
import { connectDevice, eventually, type LogLine, standaloneGatewayToml } from './helpers.ts';

const DAY = 86_400_000;
/** The gateway's clock starts 25 days in the past, so every certificate it issues is valid for real clients too. */
const REAL = Date.now();
const T0 = REAL - 25 * DAY;

const serialOf = (client: MqttClient): string =>
  ((client.stream as TLSSocket).getPeerCertificate().serialNumber ?? '').toLowerCase();

describe('server certificate renewal under a controlled clock', () => {
  let clock = T0;
  let dir: string;
  let cleanup: () => Promise<void>;
  let pki: TestPki;
  let device: TestCred;
  let edgeCaPath: string;
  let gw: Gateway;
  const forwarder = new FakeForwarder();
  const logs: LogLine[] = [];

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('gatehouse-renew-'));
    pki = await makeTestPki({ now: new Date(T0 - DAY) });
    device = await makeCred('self-signed-device', 'dev-1', undefined, { now: new Date(T0 - DAY), days: 365 });
    const registry = new FakeRegistry().add(
      deviceRecord('dev-1', { type: 'selfSigned', primaryThumbprint: device.cert.sha256 }),
    );
    const edge = await writeTestCred(dir, 'edge-ca', pki.edgeCa);
    edgeCaPath = edge.chain;
    const text = standaloneGatewayToml({ dataDir: join(dir, 'data'), edgeCa: edge });
    const config = parseConfig(text, dir);
    const logger = createLogger({
      level: 'debug',
      destination: { write: (s: string) => logs.push(JSON.parse(s) as LogLine) },
    });
    gw = await createGateway({ config, logger, registry, forwarder, now: () => clock });
  });
  afterAll(async () => {
    await gw?.close();
    await cleanup?.();
  });

  it('renews past the threshold: an established client stays connected, a new client sees the new serial', async () => {
    const first = gw.serverCertificate();
    expect(first.notAfter - first.notBefore).toBeGreaterThan(29 * DAY);
    const a = await connectDevice(gw.port, pki.root.cert.pem, 'dev-1', device);
    try {
      expect(serialOf(a)).toBe(first.serialHex.toLowerCase());
      expect(gw.health().body.status).toBe('ready');

      // 25 of 30 days: past the default 80% threshold. /health says so before anything renews.
      clock = REAL;
      const overdue = gw.health().body as { status: string; certificates?: Array<{ certificate: string }> };
      expect(overdue.status).toBe('degraded');
      expect(overdue.certificates?.map((c) => c.certificate)).toEqual(['server']);

      // What the renewal timer runs at the renewal point.
      const renewed = await gw.reloadSecureContext();
      expect(renewed.serialHex).not.toBe(first.serialHex);
      expect(gw.serverCertificate().serialHex).toBe(renewed.serialHex);
      expect(gw.health().body.status).toBe('ready');

      await a.publishAsync('devices/dev-1/messages/events/', 'after-swap', { qos: 1 });
      expect(a.connected).toBe(true);
      expect(forwarder.enqueued.map((m) => m.payload.toString())).toContain('after-swap');

      const c = await connectDevice(gw.port, pki.root.cert.pem, 'dev-1', device);
      expect(serialOf(c)).toBe(renewed.serialHex.toLowerCase());
      await c.endAsync();
    } finally {
      await a.endAsync();
    }
  });

  it('a failed renewal keeps the old certificate, is logged, and shows in /health and metrics', async () => {
    const current = gw.serverCertificate();
    const a = await connectDevice(gw.port, pki.root.cert.pem, 'dev-1', device);
    try {
      await writeFile(edgeCaPath, 'this is not a certificate\n');
      clock = REAL + 25 * DAY;
      let caught: unknown;
      try {
        await gw.reloadSecureContext();
      } catch (err) {
        caught = err;
      }
      expect(isGatehouseError(caught)).toBe(true);
      expect(gw.serverCertificate().serialHex).toBe(current.serialHex);
      expect(a.connected).toBe(true);
      const c = await connectDevice(gw.port, pki.root.cert.pem, 'dev-1', device);
      expect(serialOf(c)).toBe(current.serialHex.toLowerCase());
      await c.endAsync();

      const health = gw.health().body as {
        status: string;
        certificates?: Array<{ certificate: string; notAfter: string; renewalError?: string }>;
      };
      expect(health.status).toBe('degraded');
      expect(health.certificates?.[0]).toMatchObject({
        certificate: 'server',
        notAfter: new Date(current.notAfter).toISOString(),
      });
      const metrics = await gw.metrics.registry.metrics();
      const expiry = /gatehouse_certificate_expiry_seconds\{certificate="server"\} (\S+)/.exec(metrics)?.[1];
      expect(Number(expiry)).toBeCloseTo((current.notAfter - clock) / 1000, 0);
      await eventually(
        () =>
          logs.some((l) => l.level >= 50 && l.msg === 'certificate reload failed; keeping the current one'),
        2_000,
      );
      expect(metrics).toMatch(/gatehouse_certificate_renewal_failures_total\{certificate="server"\} 1/);
      expect(metrics).toMatch(/gatehouse_certificate_renewal_failing\{certificate="server"\} 1/);
      expect(health.certificates?.[0]?.renewalError).toMatch(/edge-ca|certificate/i);
    } finally {
      await a.endAsync();
    }
  });

  it('a renewal that works again clears the failure', async () => {
    await writeTestCred(dir, 'edge-ca', pki.edgeCa);
    const renewed = await gw.reloadSecureContext();
    expect(gw.serverCertificate().serialHex).toBe(renewed.serialHex);
    expect(gw.health().body.status).toBe('ready');
    const metrics = await gw.metrics.registry.metrics();
    expect(metrics).toMatch(/gatehouse_certificate_renewal_failing\{certificate="server"\} 0/);
    expect(metrics).toMatch(/gatehouse_certificate_renewal_failures_total\{certificate="server"\} 1/);
  });
});
