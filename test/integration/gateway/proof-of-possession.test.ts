import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCred } from '../../helpers/pki.ts';
import { ALERT_BAD_RECORD_MAC, ALERT_DECRYPT_ERROR, forgedHandshake } from './forged-tls-client.ts';
import { connectDevice, type GatewayEnv, startGatewayEnv, thumbprintAuth } from './helpers.ts';

let env: GatewayEnv;
let registered: TestCred;
let otherKey: TestCred;

beforeAll(async () => {
  env = await startGatewayEnv();
  registered = await env.pki.selfSigned('pop-device');
  otherKey = await env.pki.selfSigned('pop-device');
  await env.addDevice('pop-device', thumbprintAuth(registered));
  await env.sync();
});

afterAll(async () => {
  await env?.close();
});

describe('proof of possession is TLS’s', () => {
  it('the registered certificate and its key connect', async () => {
    const c = await connectDevice(env, 'pop-device', registered);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('a client holding the registered certificate but signing with another key fails the TLS handshake', async () => {
    const forged = await forgedHandshake({
      host: '127.0.0.1',
      port: env.gw.port,
      servername: 'localhost',
      certificates: [registered.cert.der],
      signingKeyPem: otherKey.keyPem,
    });
    expect(forged).toBe(ALERT_DECRYPT_ERROR);
    // Control: the same forged client signing with the right key gets past CertificateVerify and
    // fails only on its fake Finished, so the refusal above is the signature check.
    const control = await forgedHandshake({
      host: '127.0.0.1',
      port: env.gw.port,
      servername: 'localhost',
      certificates: [registered.cert.der],
      signingKeyPem: registered.keyPem,
    });
    expect(control).toBe(ALERT_BAD_RECORD_MAC);
    const failures = await env.gw.metrics.registry.getSingleMetricAsString(
      'gatehouse_tls_handshake_failures_total',
    );
    expect(failures).toMatch(/reason="[A-Z_]*BAD_SIGNATURE"} 1/);
    expect(env.logs.some((l) => l.msg === 'device refused' && l.deviceId === 'pop-device')).toBe(false);
  });
});
