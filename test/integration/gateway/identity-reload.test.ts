import { writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { telemetryTopic } from '../../../src/iothub/topics.ts';
import { makeCred } from '../../helpers/pki.ts';
import {
  connectDevice,
  eventually,
  GATEWAY_ID,
  type GatewayEnv,
  startGatewayEnv,
  thumbprintAuth,
} from './helpers.ts';

describe('gateway identity certificate: expired, then replaced', () => {
  let env: GatewayEnv | undefined;
  afterEach(async () => {
    await env?.close();
  });

  it('keeps serving and storing downstream while upstream refuses, and drains once a valid identity is configured', async () => {
    env = await startGatewayEnv();
    const sensor = await env.pki.selfSigned('sensor-x');
    await env.addDevice('sensor-x', thumbprintAuth(sensor));
    await env.sync();
    await env.gw.close();

    // The identity on disk expires (registered at the hub, but no longer valid).
    const DAY = 86_400_000;
    const expired = await makeCred('self-signed-device', GATEWAY_ID, undefined, {
      now: new Date(Date.now() - 10 * DAY),
      days: 1,
    });
    await env.hub.admin.updateDevice(GATEWAY_ID, { auth: thumbprintAuth(expired) });
    await writeFile(env.config.provisioning.identityCert, expired.chainPem);
    await writeFile(env.config.provisioning.identityPk, expired.keyPem);

    const gw = await env.startGateway();
    await eventually(() => gw.forwarder.state() === 'refused');
    // Downstream still works from the registry snapshot, and QoS 1 is acknowledged once stored.
    const device = await connectDevice(env, 'sensor-x', sensor);
    for (let i = 1; i <= 5; i++)
      await device.publishAsync(telemetryTopic('sensor-x'), `held-${i}`, { qos: 1 });
    await device.endAsync();
    expect(gw.forwarder.state()).toBe('refused');
    expect((await env.hub.admin.messages({ deviceId: 'sensor-x' })).length).toBe(0);

    // A bad pair on disk is refused and the current identity kept.
    const fresh = await makeCred('self-signed-device', GATEWAY_ID, undefined);
    await writeFile(env.config.provisioning.identityCert, fresh.chainPem);
    await expect(gw.reloadIdentity()).rejects.toMatchObject({ code: 'GH_ERR_KEY_MISMATCH' });

    // The operator installs a valid identity (and registers it); SIGHUP → reloadIdentity.
    await writeFile(env.config.provisioning.identityPk, fresh.keyPem);
    await env.hub.admin.updateDevice(GATEWAY_ID, { auth: thumbprintAuth(fresh) });
    expect(await gw.reloadIdentity()).toBe(true);
    expect(await gw.reloadIdentity()).toBe(false);
    await eventually(
      async () => (await env?.hub.admin.messages({ deviceId: 'sensor-x' }))?.length === 5,
      20_000,
    );
    const got = (await env.hub.admin.messages({ deviceId: 'sensor-x' })).map((m) => m.payloadText);
    expect(got).toEqual(['held-1', 'held-2', 'held-3', 'held-4', 'held-5']);
  });
});
