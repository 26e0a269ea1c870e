import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import { connectHubAdmin, startHub } from '../../../src/hub/index.ts';
import { makeCred, makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';
import { connectDevice, nextMessage, startTestHub, type TestHub } from './helpers.ts';

let t: TestHub;
let pki: TestPki;
let cred: TestCred;

beforeAll(async () => {
  t = await startTestHub();
  pki = await makeTestPki();
  cred = await pki.selfSigned('keep-1');
});

afterAll(async () => {
  await t?.cleanup();
});

describe('hub persistence and data directory', () => {
  it('keeps devices, CAs, telemetry and pending C2D across a restart, with the same root CA', async () => {
    const admin = t.hub.admin;
    await admin.addDevice({
      deviceId: 'keep-edge',
      auth: { type: 'selfSigned', primaryThumbprint: cred.cert.sha256 },
      edge: true,
    });
    const child = await admin.addDevice({
      deviceId: 'keep-1',
      auth: { type: 'selfSigned', primaryThumbprint: cred.cert.sha256 },
      parentId: 'keep-edge',
    });
    const { verificationCode } = await admin.uploadCa('keep-ca', pki.root.cert.pem);
    await admin.verifyCa('keep-ca', (await makeCred('verification', verificationCode, pki.root)).cert.pem);
    const c = await connectDevice(t.hub, 'keep-1', cred);
    await c.publishAsync('devices/keep-1/messages/events/n=1', 'before restart', { qos: 1 });
    await c.endAsync();
    await admin.sendC2d('keep-1', 'waiting across the restart');
    const rootBefore = t.hub.rootCaPem;
    const serverCertBefore = await readFile(join(t.dir, 'tls', 'server.cert.pem'), 'utf8');

    const hub = await t.restart();
    expect(hub.rootCaPem).toBe(rootBefore);
    expect(await readFile(join(t.dir, 'tls', 'server.cert.pem'), 'utf8')).toBe(serverCertBefore);
    expect(await hub.admin.getDevice('keep-1')).toEqual(child);
    expect((await hub.admin.listCas()).find((x) => x.name === 'keep-ca')?.verified).toBe(true);
    expect((await hub.admin.messages({ deviceId: 'keep-1' })).map((m) => m.payloadText)).toEqual([
      'before restart',
    ]);

    const again = await connectDevice(hub, 'keep-1', cred);
    const arriving = nextMessage(again);
    await again.subscribeAsync('devices/keep-1/messages/devicebound/#', { qos: 1 });
    expect((await arriving).payload.toString()).toBe('waiting across the restart');
    await again.endAsync();
    // New generations continue after the old ones.
    const updated = await hub.admin.updateDevice('keep-1', { status: 'disabled' });
    expect(updated.generation).toBeGreaterThan(child.generation);
  });

  it('keeps the token private and the data directory closed to other users', async () => {
    expect((await stat(t.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(t.dir, 'admin.token'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(t.dir, 'tls', 'root-ca.key.pem'))).mode & 0o777).toBe(0o600);
    const info = JSON.parse(await readFile(join(t.dir, 'hub.json'), 'utf8'));
    expect(info).toMatchObject({
      host: '127.0.0.1',
      mqttPort: t.hub.mqttPort,
      apiPort: t.hub.apiPort,
      hostname: 'localhost',
    });
    const admin = await connectHubAdmin(t.dir);
    expect((await admin.listDevices()).length).toBeGreaterThan(0);
  });

  it('names the port that is already in use, and leaves the running hub alone', async () => {
    const err = await startHub({
      dataDir: join(t.dir, 'second'),
      mqttPort: t.hub.mqttPort,
      apiPort: 0,
    }).catch((e) => e);
    expect(isGatehouseError(err, 'GH_ERR_ADDRESS_IN_USE')).toBe(true);
    expect((err as Error).message).toContain(String(t.hub.mqttPort));
    expect((await t.hub.admin.listDevices()).length).toBeGreaterThan(0);
  });

  it('removes hub.json on close so the admin CLI reports no running hub', async () => {
    await t.hub.close();
    await expect(connectHubAdmin(t.dir)).rejects.toSatisfy((e) => isGatehouseError(e, 'GH_ERR_UNREACHABLE'));
    await t.restart();
  });
});
