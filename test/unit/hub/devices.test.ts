import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import { DeviceRegistry } from '../../../src/hub/devices.ts';
import { type HubDb, openHubDb } from '../../../src/hub/store.ts';

const T = Date.UTC(2026, 0, 1);
const auth = { type: 'selfSigned' as const, primaryThumbprint: `${'ab:'.repeat(31)}ab` };

let db: HubDb;
beforeEach(() => {
  db = openHubDb(':memory:');
});
afterEach(() => db.close());

describe('DeviceRegistry', () => {
  it('normalizes thumbprints, versions every change and reloads from the database', () => {
    const reg = new DeviceRegistry(db);
    const a = reg.add({ deviceId: 'a', auth }, T);
    expect(a.authentication).toEqual({ type: 'selfSigned', primaryThumbprint: 'AB'.repeat(32) });
    expect(a.lastUpdated).toBe(new Date(T).toISOString());
    const b = reg.update('a', { status: 'disabled' }, T + 1);
    expect(b.etag).not.toBe(a.etag);
    expect(b.generation).toBe(a.generation + 1);
    expect(new DeviceRegistry(db).get('a')).toEqual(b);
  });

  it('answers subtree questions from the mirror', () => {
    const reg = new DeviceRegistry(db);
    reg.add({ deviceId: 'top', auth, edge: true });
    reg.add({ deviceId: 'mid', auth, edge: true, parentId: 'top' });
    reg.add({ deviceId: 'low', auth, parentId: 'mid' });
    reg.add({ deviceId: 'other', auth });
    expect(reg.subtree('top').map((r) => r.deviceId)).toEqual(['low', 'mid']);
    expect(reg.children('top')).toEqual(['mid']);
    reg.update('low', { parentId: 'top' });
    expect(reg.children('mid')).toEqual([]);
    expect([...reg.children('top')].sort()).toEqual(['low', 'mid']);
  });

  it('refuses a corrupt row on load', () => {
    db.prepare('INSERT INTO devices (device_id, record) VALUES (?, ?)').run('x', '{"deviceId":"x"}');
    let err: unknown;
    try {
      new DeviceRegistry(db);
    } catch (e) {
      err = e;
    }
    expect(isGatehouseError(err, 'GH_ERR_STORE')).toBe(true);
  });

  it('removes the pending C2D queue with the device', () => {
    const reg = new DeviceRegistry(db);
    reg.add({ deviceId: 'gone', auth });
    db.prepare(
      "INSERT INTO c2d (id, device_id, properties, payload, enqueued_at) VALUES ('m', 'gone', '{}', x'00', 0)",
    ).run();
    reg.remove('gone');
    expect((db.prepare('SELECT COUNT(*) AS n FROM c2d').get() as { n: number }).n).toBe(0);
  });
});
