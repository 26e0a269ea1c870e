import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Health } from '../../../src/broker/health.ts';
import { CertificateWatch, withCertificateHealth } from '../../../src/lifecycle/cert-status.ts';
import { makeCred } from '../../helpers/pki.ts';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const READY: Health = { httpStatus: 200, body: { status: 'ready' } };

describe('CertificateWatch', async () => {
  const cred = await makeCred('self-signed-device', 'x', undefined, { now: new Date(T0), days: 10 });
  const renewAt = T0 + 8 * DAY;

  it('leaves health alone while every certificate is before its renewal point and renewing fine', () => {
    const watch = new CertificateWatch(() => T0 + DAY);
    watch.watch(
      'server',
      () => cred.cert,
      () => renewAt,
    );
    expect(withCertificateHealth(READY, watch)).toBe(READY);
  });

  it('reports an overdue certificate (a renewal that never ran) as degraded, still 200', () => {
    const watch = new CertificateWatch(() => renewAt + 1);
    watch.watch(
      'server',
      () => cred.cert,
      () => renewAt,
    );
    const h = withCertificateHealth(READY, watch);
    expect(h.httpStatus).toBe(200);
    expect(h.body).toMatchObject({
      status: 'degraded',
      certificates: [{ certificate: 'server', serial: cred.cert.serialHex, renewalError: undefined }],
    });
  });

  it('reports a failing renewal until it succeeds, and counts failures', async () => {
    const registry = new Registry();
    const watch = new CertificateWatch(() => T0 + DAY);
    watch.register(registry);
    watch.watch(
      'identity',
      () => cred.cert,
      () => renewAt,
    );
    watch.failed('identity', new Error('EST down'));
    watch.failed('identity', new Error('EST still down'));
    expect(withCertificateHealth(READY, watch).body).toMatchObject({
      status: 'degraded',
      certificates: [{ certificate: 'identity', renewalError: 'EST still down' }],
    });
    let text = await registry.metrics();
    expect(text).toMatch(/gatehouse_certificate_renewal_failures_total\{certificate="identity"\} 2/);
    expect(text).toMatch(/gatehouse_certificate_renewal_failing\{certificate="identity"\} 1/);
    expect(text).toMatch(/gatehouse_certificate_expiry_seconds\{certificate="identity"\} 777600/);
    watch.succeeded('identity');
    expect(withCertificateHealth(READY, watch)).toBe(READY);
    text = await registry.metrics();
    expect(text).toMatch(/gatehouse_certificate_renewal_failing\{certificate="identity"\} 0/);
  });

  it('keeps an offline gateway offline (503) and adds the certificates', () => {
    const watch = new CertificateWatch(() => renewAt + 1);
    watch.watch(
      'server',
      () => cred.cert,
      () => renewAt,
    );
    const offline: Health = {
      httpStatus: 503,
      body: {
        status: 'offline',
        listening: false,
        registry: 'empty',
        registrySize: 0,
        lastSyncAt: undefined,
        registryError: undefined,
        upstream: 'offline',
      },
    };
    const h = withCertificateHealth(offline, watch);
    expect(h.httpStatus).toBe(503);
    expect(h.body).toMatchObject({ status: 'offline', certificates: [{ certificate: 'server' }] });
  });
});
