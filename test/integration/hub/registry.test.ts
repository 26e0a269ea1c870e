import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ErrorCode, isGatehouseError } from '../../../src/errors.ts';
import type { DeviceRecord } from '../../../src/registry/device.ts';
import { makeTestPki, type TestCred } from '../../helpers/pki.ts';
import { rawRequest, startTestHub, type TestHub } from './helpers.ts';

let t: TestHub;
let cred: TestCred;
let token: string;

beforeAll(async () => {
  t = await startTestHub();
  cred = await (await makeTestPki()).selfSigned('reg');
  token = (await readFile(join(t.dir, 'admin.token'), 'utf8')).trim();
});

afterAll(async () => {
  await t?.cleanup();
});

const thumb = () => ({ type: 'selfSigned' as const, primaryThumbprint: cred.cert.sha256 });
const add = (deviceId: string, extra: { edge?: boolean; parentId?: string } = {}) =>
  t.hub.admin.addDevice({ deviceId, auth: thumb(), ...extra });

async function refusal(p: Promise<unknown>): Promise<{ code: ErrorCode; reason: unknown; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isGatehouseError(err)) return { code: err.code, reason: err.details?.reason, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('hub registry', () => {
  it('adds, reads, lists, updates and removes devices; the etag changes on every update', async () => {
    const created = await t.hub.admin.addDevice({
      deviceId: 'crud-1',
      auth: {
        type: 'selfSigned',
        primaryThumbprint: cred.cert.sha256.toLowerCase().match(/.{2}/g)?.join(':') ?? '',
      },
    });
    expect(created).toMatchObject({
      deviceId: 'crud-1',
      status: 'enabled',
      authentication: { type: 'selfSigned', primaryThumbprint: cred.cert.sha256 },
      capabilities: { iotEdge: false },
    });
    expect(await t.hub.admin.getDevice('crud-1')).toEqual(created);
    expect((await t.hub.admin.listDevices()).map((d) => d.deviceId)).toContain('crud-1');

    const disabled = await t.hub.admin.updateDevice('crud-1', { status: 'disabled' });
    expect(disabled.status).toBe('disabled');
    expect(disabled.etag).not.toBe(created.etag);
    expect(disabled.generation).toBeGreaterThan(created.generation);
    const rotated = await t.hub.admin.updateDevice('crud-1', {
      auth: { type: 'selfSigned', primaryThumbprint: 'AB'.repeat(32), secondaryThumbprint: cred.cert.sha256 },
    });
    expect(rotated.etag).not.toBe(disabled.etag);
    // A patch that changes nothing is not an update.
    expect((await t.hub.admin.updateDevice('crud-1', { status: 'disabled' })).etag).toBe(rotated.etag);

    await t.hub.admin.removeDevice('crud-1');
    expect((await refusal(t.hub.admin.getDevice('crud-1'))).code).toBe('GH_ERR_NOT_FOUND');
    expect((await refusal(t.hub.admin.removeDevice('crud-1'))).code).toBe('GH_ERR_NOT_FOUND');
    expect((await refusal(t.hub.admin.updateDevice('crud-1', { status: 'enabled' }))).code).toBe(
      'GH_ERR_NOT_FOUND',
    );
  });

  it('refuses duplicates and bad input', async () => {
    await add('dup-1');
    expect((await refusal(add('dup-1'))).code).toBe('GH_ERR_CONFLICT');
    expect((await refusal(add('bad/id'))).code).toBe('GH_ERR_INPUT');
    expect(
      (
        await refusal(
          t.hub.admin.addDevice({ deviceId: 'x-1', auth: { type: 'selfSigned', primaryThumbprint: 'xyz' } }),
        )
      ).code,
    ).toBe('GH_ERR_INPUT');
  });

  describe('parent rules (GH_ERR_SCOPE with a reason)', () => {
    it('needs an existing edge parent', async () => {
      await add('plain-parent');
      expect(await refusal(add('orphan', { parentId: 'nobody' }))).toMatchObject({
        code: 'GH_ERR_SCOPE',
        reason: 'unknown-parent',
      });
      expect(await refusal(add('kid', { parentId: 'plain-parent' }))).toMatchObject({
        code: 'GH_ERR_SCOPE',
        reason: 'parent-not-edge',
      });
    });

    it('refuses cycles and self-parenting', async () => {
      await add('cyc-top', { edge: true });
      await add('cyc-mid', { edge: true, parentId: 'cyc-top' });
      await add('cyc-low', { edge: true, parentId: 'cyc-mid' });
      expect(await refusal(t.hub.admin.updateDevice('cyc-top', { parentId: 'cyc-low' }))).toMatchObject({
        code: 'GH_ERR_SCOPE',
        reason: 'cycle',
      });
      expect(await refusal(t.hub.admin.updateDevice('cyc-top', { parentId: 'cyc-top' }))).toMatchObject({
        code: 'GH_ERR_SCOPE',
        reason: 'self-parent',
      });
      expect((await t.hub.admin.getDevice('cyc-top')).parentId).toBeUndefined();
    });

    it('allows five edge layers and refuses a sixth, also when moving a subtree', async () => {
      let parent: string | undefined;
      for (let i = 1; i <= 5; i++) {
        await add(`layer-${i}`, { edge: true, ...(parent ? { parentId: parent } : {}) });
        parent = `layer-${i}`;
      }
      // A leaf device below the fifth layer is fine; a sixth edge layer is not.
      await add('leaf-under-5', { parentId: 'layer-5' });
      expect(await refusal(add('layer-6', { edge: true, parentId: 'layer-5' }))).toMatchObject({
        code: 'GH_ERR_SCOPE',
        reason: 'too-deep',
      });
      // Moving a two-layer subtree under layer-4 would make six layers.
      await add('sub-top', { edge: true });
      await add('sub-low', { edge: true, parentId: 'sub-top' });
      expect(await refusal(t.hub.admin.updateDevice('sub-top', { parentId: 'layer-4' }))).toMatchObject({
        code: 'GH_ERR_SCOPE',
        reason: 'too-deep',
      });
      expect((await t.hub.admin.updateDevice('sub-top', { parentId: 'layer-3' })).parentId).toBe('layer-3');
    });

    it('refuses to remove a parent that still has children (CONFLICT), allows it once they move', async () => {
      await add('busy-parent', { edge: true });
      await add('busy-child', { parentId: 'busy-parent' });
      expect((await refusal(t.hub.admin.removeDevice('busy-parent'))).code).toBe('GH_ERR_CONFLICT');
      expect((await t.hub.admin.getDevice('busy-child')).parentId).toBe('busy-parent');
      const moved = await t.hub.admin.updateDevice('busy-child', { parentId: null });
      expect(moved.parentId).toBeUndefined();
      await t.hub.admin.removeDevice('busy-parent');
    });
  });
});

describe('hub admin API input handling', () => {
  const snapshot = async () => (await t.hub.admin.listDevices()).map((d: DeviceRecord) => d.etag).join();

  it('answers 401 to a missing or wrong token', async () => {
    const none = await rawRequest(t.hub, { method: 'GET', path: '/admin/v1/devices' });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'GH_ERR_UNAUTHORIZED' });
    const wrong = await rawRequest(t.hub, {
      method: 'GET',
      path: '/admin/v1/devices',
      token: 'f'.repeat(64),
    });
    expect(wrong.status).toBe(401);
  });

  it('refuses malformed JSON (400), wrong content type (415), oversize body (413), unknown fields (400); state unchanged', async () => {
    const state = await snapshot();
    const post = (body: string | Buffer, type = 'application/json') =>
      rawRequest(t.hub, {
        method: 'POST',
        path: '/admin/v1/devices',
        token,
        body,
        headers: { 'content-type': type },
      });

    const malformed = await post('{"deviceId": "m-1",');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ code: 'GH_ERR_INPUT', message: expect.stringContaining('JSON') });

    const wrongType = await post(JSON.stringify({ deviceId: 'm-2', auth: thumb() }), 'text/plain');
    expect(wrongType.status).toBe(415);
    expect(wrongType.body).toMatchObject({
      code: 'GH_ERR_INPUT',
      message: expect.stringContaining('content-type'),
    });

    const big = await post(JSON.stringify({ deviceId: 'm-3', auth: thumb(), pad: 'x'.repeat(70 * 1024) }));
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ code: 'GH_ERR_INPUT' });

    const unknown = await post(JSON.stringify({ deviceId: 'm-4', auth: thumb(), colour: 'red' }));
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({
      code: 'GH_ERR_INPUT',
      message: expect.stringContaining('"colour"'),
    });

    const nested = await post(JSON.stringify({ deviceId: 'm-5', auth: { ...thumb(), extra: 1 } }));
    expect(nested.status).toBe(400);

    const patch = await rawRequest(t.hub, {
      method: 'PATCH',
      path: '/admin/v1/devices/dup-1',
      token,
      body: JSON.stringify({ status: 'gone' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(patch.status).toBe(400);

    expect(await snapshot()).toBe(state);
  });

  it('answers 404 for unknown routes and 405 for wrong methods', async () => {
    expect((await rawRequest(t.hub, { method: 'GET', path: '/admin/v1/nothing', token })).status).toBe(404);
    expect((await rawRequest(t.hub, { method: 'GET', path: '/elsewhere' })).status).toBe(404);
    expect((await rawRequest(t.hub, { method: 'PUT', path: '/admin/v1/devices', token })).status).toBe(405);
    expect(
      (await rawRequest(t.hub, { method: 'GET', path: '/admin/v1/messages?limit=0', token })).status,
    ).toBe(400);
    expect(
      (await rawRequest(t.hub, { method: 'GET', path: '/admin/v1/messages?sort=desc', token })).status,
    ).toBe(400);
  });
});
