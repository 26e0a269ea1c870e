import { createServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import type { HubHandle } from '../../../src/hub/index.ts';
import { createLogger } from '../../../src/logger.ts';
import { makeTempDir, makeTestPki } from '../../helpers/pki.ts';
import {
  GATEWAY_ID,
  makeIdentity,
  payloadNumber,
  startTestHub,
  telemetry,
  upstreamFor,
  waitFor,
  waitForMessages,
} from './helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function dirs(): Promise<{ hubDir: string; gwDir: string }> {
  const hubTmp = await makeTempDir('gh-up-hub-');
  const gwTmp = await makeTempDir('gh-up-gw-');
  cleanups.push(hubTmp.cleanup, gwTmp.cleanup);
  return { hubDir: hubTmp.dir, gwDir: gwTmp.dir };
}

async function hubOn(dir: string, identity: Parameters<typeof startTestHub>[1]): Promise<HubHandle> {
  const hub = await startTestHub(dir, identity);
  cleanups.push(() => hub.close());
  return hub;
}

function logSink(): { lines: Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  });
  return { lines, logger };
}

describe('upstream identity', () => {
  it('an expired identity: state refused with one clear error line, store keeps accepting; reload drains', async () => {
    const { hubDir, gwDir } = await dirs();
    const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
    const expired = await makeIdentity({ days: 1, now: tenDaysAgo });
    const hub = await hubOn(hubDir, expired);
    const { lines, logger } = logSink();
    const upstream = upstreamFor(hub, expired, gwDir, { logger });
    cleanups.push(() => upstream.close());

    await waitFor(() => upstream.state() === 'refused', 5_000, 'refused', upstream);
    expect(upstream.stats().lastError?.reason).toBe('identity-expired');
    for (let n = 1; n <= 3; n++) await upstream.enqueue(telemetry('sensor-a', n));
    expect(upstream.stats().queued).toBe(3);
    // Retries keep failing, but the error is logged once, not once per retry.
    await new Promise((r) => setTimeout(r, 600));
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.msg)).toMatch(/upstream refused: identity certificate expired at/);
    expect(await hub.admin.messages()).toHaveLength(0);

    const renewed = await makeIdentity();
    await hub.admin.updateDevice(GATEWAY_ID, {
      auth: { type: 'selfSigned', primaryThumbprint: renewed.cert.sha256 },
    });
    upstream.reloadIdentity({ certPem: renewed.chainPem, keyPem: renewed.keyPem });
    const got = await waitForMessages(hub, 3, 10_000);
    expect(got.map(payloadNumber)).toEqual([1, 2, 3]);
    expect(upstream.state()).toBe('connected');
    expect(upstream.stats().lastError).toBeUndefined();
  });

  it('an identity the hub does not know: refused (CONNACK 5), recovers by itself once registered', async () => {
    const { hubDir, gwDir } = await dirs();
    const identity = await makeIdentity();
    const hub = await hubOn(hubDir, undefined);
    const upstream = upstreamFor(hub, identity, gwDir);
    cleanups.push(() => upstream.close());

    await waitFor(() => upstream.state() === 'refused', 10_000, 'refused', upstream);
    expect(upstream.stats().lastError?.reason).toBe('not-authorized');
    await upstream.enqueue(telemetry('sensor-a', 7));

    await hub.admin.addDevice({
      deviceId: GATEWAY_ID,
      auth: { type: 'selfSigned', primaryThumbprint: identity.cert.sha256 },
      edge: true,
    });
    await hub.admin.addDevice({
      deviceId: 'sensor-a',
      auth: { type: 'certificateAuthority' },
      parentId: GATEWAY_ID,
    });
    const got = await waitForMessages(hub, 1, 10_000);
    expect(got.map(payloadNumber)).toEqual([7]);
    expect(upstream.state()).toBe('connected');
  });

  it('reloadIdentity refuses a key that does not match and keeps the working identity', async () => {
    const { hubDir, gwDir } = await dirs();
    const identity = await makeIdentity();
    const other = await makeIdentity();
    const hub = await hubOn(hubDir, identity);
    const upstream = upstreamFor(hub, identity, gwDir);
    cleanups.push(() => upstream.close());
    await waitFor(() => upstream.state() === 'connected', 10_000, 'connected', upstream);

    let caught: unknown;
    try {
      upstream.reloadIdentity({ certPem: identity.chainPem, keyPem: other.keyPem });
    } catch (err) {
      caught = err;
    }
    expect(isGatehouseError(caught, 'GH_ERR_KEY_MISMATCH')).toBe(true);
    expect(() => upstream.reloadIdentity({ certPem: 'not a pem', keyPem: identity.keyPem })).toThrow();
    expect(upstream.state()).toBe('connected');
    expect(upstream.stats().connects).toBe(1);
  });

  it('does not connect to an upstream whose certificate fails trust_bundle_cert or the hostname', async () => {
    const { hubDir, gwDir } = await dirs();
    const identity = await makeIdentity();
    const hub = await hubOn(hubDir, identity);
    const strangerRoot = (await makeTestPki()).root.cert.pem;
    const wrongCa = upstreamFor(hub, identity, `${gwDir}/a`, { caPem: strangerRoot });
    const wrongName = upstreamFor(hub, identity, `${gwDir}/b`, { servername: 'not-the-hub.example' });
    cleanups.push(
      () => wrongCa.close(),
      () => wrongName.close(),
    );
    await waitFor(
      () => wrongCa.stats().lastError !== undefined && wrongName.stats().lastError !== undefined,
      10_000,
      'both failed',
      wrongCa,
    );
    for (const u of [wrongCa, wrongName]) {
      expect(u.stats().lastError?.reason).toBe('server-untrusted');
      expect(u.state()).not.toBe('connected');
      expect(u.stats().connects).toBe(0);
    }
    expect(wrongName.stats().lastError?.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('an upstream that drops the connection right after the TLS handshake (how a Node server refuses a client certificate): refused', async () => {
    const { gwDir } = await dirs();
    const pki = await makeTestPki();
    const server = await pki.server('localhost');
    // A parent that only accepts client certificates from its own CA: our self-signed identity gets an alert.
    const tlsServer = createServer({
      key: server.keyPem,
      cert: server.chainPem,
      ca: pki.root.cert.pem,
      requestCert: true,
      rejectUnauthorized: true,
    });
    tlsServer.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => tlsServer.close(() => resolve())));
    const address = tlsServer.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const identity = await makeIdentity();
    const upstream = upstreamFor({ mqttPort: port, rootCaPem: pki.root.cert.pem }, identity, gwDir);
    cleanups.push(() => upstream.close());
    await waitFor(() => upstream.state() === 'refused', 10_000, 'refused', upstream);
    expect(upstream.stats().lastError?.reason).toBe('tls-refused');
    await upstream.enqueue(telemetry('sensor-a', 1));
    expect(upstream.stats().queued).toBe(1);
  });
});
