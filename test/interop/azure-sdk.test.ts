import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCred } from '../helpers/pki.ts';
import { until } from '../helpers/wait.ts';
import { type GatewayEnv, refusalsFor, startGatewayEnv } from '../integration/gateway/helpers.ts';

// The Azure IoT device SDK for Node, unmodified, as an X.509 device behind the gateway (GatewayHostName).
const require = createRequire(import.meta.url);
const { Client, Message, X509AuthenticationProvider } =
  require('azure-iot-device') as typeof import('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt') as typeof import('azure-iot-device-mqtt');

type DeviceClient = InstanceType<typeof Client>;

async function sdkClient(env: GatewayEnv, deviceId: string, cred: TestCred): Promise<DeviceClient> {
  // The SDK's fromConnectionString drops GatewayHostName for x509=true connection strings, so an X.509
  // device reaches a gateway through the SDK's own X509AuthenticationProvider, which keeps it. The
  // SDK builds mqtts://<gatewayHostName>; a host:port form reaches a gateway on a test port.
  const provider = new X509AuthenticationProvider({
    host: 'localhost',
    deviceId,
    gatewayHostName: `localhost:${env.gw.port}`,
    x509: { cert: cred.chainPem, key: cred.keyPem },
  } as never);
  const client = Client.fromAuthenticationProvider(provider, Mqtt);
  // setOptions applies asynchronously; open() before it settles would connect without the trust root.
  await client.setOptions({ ca: env.deviceTrustPem } as never);
  return client;
}

describe('Azure IoT device SDK (azure-iot-device + azure-iot-device-mqtt)', () => {
  let env: GatewayEnv;
  let caDevice: TestCred;
  let thumbDevice: TestCred;

  beforeAll(async () => {
    env = await startGatewayEnv();
    await env.verifyCa('test-intermediate', env.pki.intermediate);
    caDevice = await env.pki.device('sdk-ca-device');
    thumbDevice = await env.pki.selfSigned('sdk-thumb-device');
    await env.addDevice('sdk-ca-device', { type: 'certificateAuthority' });
    await env.addDevice('sdk-thumb-device', {
      type: 'selfSigned',
      primaryThumbprint: thumbDevice.cert.sha256,
    });
    await env.sync();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('connects as a CA device, sends telemetry with properties, and receives a C2D message', async () => {
    const client = await sdkClient(env, 'sdk-ca-device', caDevice);
    const c2d = new Promise<string>((resolve) => {
      client.on('message', (msg) => {
        client.complete(msg, () => {});
        resolve(msg.getData().toString());
      });
    });
    await client.open();
    const message = new Message(JSON.stringify({ temperature: 22.5 }));
    message.properties.add('alert', 'high');
    message.messageId = 'sdk-msg-1';
    await client.sendEvent(message);

    const atHub = await until(
      'SDK telemetry at the hub',
      async () => (await env.hub.admin.messages({ deviceId: 'sdk-ca-device' }))[0],
    );
    expect(atHub.connectionDeviceId).toBe('gw-1');
    expect(atHub.properties).toMatchObject({ alert: 'high', '$.mid': 'sdk-msg-1' });
    expect(JSON.parse(atHub.payloadText ?? '{}')).toEqual({ temperature: 22.5 });

    const text = await until('C2D at the SDK', async () => {
      await env.hub.admin.sendC2d('sdk-ca-device', 'from-the-cloud');
      return Promise.race([c2d, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000))]);
    });
    expect(text).toBe('from-the-cloud');
    await client.close();
  });

  it('connects as a thumbprint device', async () => {
    const client = await sdkClient(env, 'sdk-thumb-device', thumbDevice);
    await client.open();
    await client.sendEvent(new Message('thumb-hello'));
    await until('thumbprint telemetry at the hub', async () =>
      (await env.hub.admin.messages({ deviceId: 'sdk-thumb-device' })).find(
        (m) => m.payloadText === 'thumb-hello',
      ),
    );
    await client.close();
  });

  it('is refused for an unregistered device and for a certificate whose CN is another device', async () => {
    const stranger = await env.pki.device('sdk-stranger');
    await expect((await sdkClient(env, 'sdk-stranger', stranger)).open()).rejects.toThrow(/Not authorized/i);
    await expect((await sdkClient(env, 'sdk-ca-device', stranger)).open()).rejects.toThrow(/Not authorized/i);
    // The SDK says "Not authorized" for TLS failures too: the gateway's log shows these were MQTT refusals.
    expect(refusalsFor(env, 'sdk-stranger').map((l) => l.reason)).toContain('unknown-device');
    expect(refusalsFor(env, 'sdk-ca-device').map((l) => l.reason)).toContain('cn-mismatch');
  });
});
