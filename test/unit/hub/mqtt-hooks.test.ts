import { PassThrough } from 'node:stream';
import type { AedesPublishPacket, Client, ConnectPacket, PublishPacket } from 'aedes';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CaRegistry } from '../../../src/hub/cas.ts';
import { DeviceRegistry } from '../../../src/hub/devices.ts';
import { MessageStore } from '../../../src/hub/messages.ts';
import { createHubHooks } from '../../../src/hub/mqtt-hooks.ts';
import { type HubDb, openHubDb } from '../../../src/hub/store.ts';
import { silentLogger } from '../../../src/logger.ts';
import { peerChainOf } from '../../../src/pki/peer-chain.ts';

let db: HubDb;
let hooks: ReturnType<typeof createHubHooks>;

beforeEach(() => {
  db = openHubDb(':memory:');
  const devices = new DeviceRegistry(db);
  devices.add({ deviceId: 'dev-1', auth: { type: 'selfSigned', primaryThumbprint: 'AB'.repeat(32) } });
  hooks = createHubHooks({
    devices,
    cas: new CaRegistry(db),
    messages: new MessageStore(db),
    logger: silentLogger(),
  });
});
afterEach(() => db.close());

/** What aedes hands the hooks for a connection that is not TLS: a plain Duplex. */
const fakeClient = () =>
  ({ id: 'dev-1', conn: new PassThrough(), connected: true, closed: false }) as unknown as Client;

describe('hub MQTT hooks fail closed', () => {
  it('refuses a connection that is not a TLS socket with CONNACK 5', async () => {
    const client = fakeClient();
    hooks.preConnect(client, { cmd: 'connect', clientId: 'dev-1', clean: false } as ConnectPacket, () => {});
    const result = await new Promise<{ err: (Error & { returnCode?: number }) | null; ok: boolean | null }>(
      (resolve) => hooks.authenticate(client, 'dev-1', undefined, (err, ok) => resolve({ err, ok })),
    );
    expect(result.ok).toBe(false);
    expect(result.err?.returnCode).toBe(5);
    expect(hooks.sessionOf(client)).toBeUndefined();
    expect(peerChainOf(new PassThrough())).toEqual({ ok: false, detail: 'connection is not TLS' });
  });

  it('forces a clean session in preConnect', () => {
    const packet = { cmd: 'connect', clientId: 'dev-1', clean: false } as ConnectPacket;
    hooks.preConnect(fakeClient(), packet, () => {});
    expect(packet.clean).toBe(true);
  });

  it('refuses publish, subscribe and forwarding for connections without a session', async () => {
    const client = fakeClient();
    const publish = {
      cmd: 'publish',
      topic: 'devices/dev-1/messages/events/',
      payload: Buffer.from('x'),
      qos: 1,
    } as PublishPacket;
    const pubErr = await new Promise<Error | null | undefined>((resolve) =>
      hooks.authorizePublish(client, publish, resolve),
    );
    expect(pubErr).toBeInstanceOf(Error);
    const nullClient = await new Promise<Error | null | undefined>((resolve) =>
      hooks.authorizePublish(null, publish, resolve),
    );
    expect(nullClient).toBeInstanceOf(Error);
    const sub = await new Promise<unknown>((resolve) =>
      hooks.authorizeSubscribe(client, { topic: 'devices/dev-1/messages/devicebound/#', qos: 1 }, (_e, s) =>
        resolve(s),
      ),
    );
    expect(sub).toBeNull();
    const fwd = hooks.authorizeForward(client, {
      topic: 'devices/dev-1/messages/devicebound/x',
      payload: Buffer.alloc(0),
    } as AedesPublishPacket);
    expect(fwd).toBeNull();
    expect((db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n).toBe(0);
  });
});
