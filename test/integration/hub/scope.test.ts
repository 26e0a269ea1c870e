import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ScopePage,
  scopeOneSchema,
  scopePageSchema,
  scopePaths,
} from '../../../src/iothub/scope-api.ts';
import { makeCred, makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';
import { rawRequest, startTestHub, type TestHub } from './helpers.ts';

let t: TestHub;
let pki: TestPki;
const creds = new Map<string, TestCred>();

/** gw-1 has five devices below it (two layers), gw-2 one; plain is no edge device. */
const TREE: Array<[id: string, edge: boolean, parent?: string]> = [
  ['gw-1', true],
  ['s-a', false, 'gw-1'],
  ['s-b', false, 'gw-1'],
  ['gw-1-child', true, 'gw-1'],
  ['s-c', false, 'gw-1-child'],
  ['s-d', false, 'gw-1-child'],
  ['gw-2', true],
  ['s-e', false, 'gw-2'],
  ['plain', false],
  ['gw-off', true],
];

beforeAll(async () => {
  t = await startTestHub();
  pki = await makeTestPki();
  for (const [id, edge, parentId] of TREE) {
    const cred = await pki.selfSigned(id);
    creds.set(id, cred);
    await t.hub.admin.addDevice({
      deviceId: id,
      auth: { type: 'selfSigned', primaryThumbprint: cred.cert.sha256 },
      edge,
      ...(parentId ? { parentId } : {}),
      ...(id === 'gw-off' ? { disabled: true } : {}),
    });
  }
  const { verificationCode } = await t.hub.admin.uploadCa('scope-ca', pki.root.cert.pem);
  await t.hub.admin.verifyCa(
    'scope-ca',
    (await makeCred('verification', verificationCode, pki.root)).cert.pem,
  );
  await t.hub.admin.uploadCa('unverified-ca', (await makeTestPki()).root.cert.pem);
});

afterAll(async () => {
  await t?.cleanup();
});

const get = (path: string, as?: string) =>
  rawRequest(t.hub, { method: 'GET', path, ...(as ? { cert: creds.get(as) as TestCred } : {}) });

describe('hub scope API', () => {
  it('pages through the whole subtree (not the edge itself) with continuation links', async () => {
    const seen: string[] = [];
    let path: string | null = `${scopePaths.all('gw-1')}?pageSize=2`;
    let pages = 0;
    while (path !== null && pages < 10) {
      const res = await get(path, 'gw-1');
      expect(res.status).toBe(200);
      const page: ScopePage = scopePageSchema.parse(res.body);
      expect(page.edgeDeviceId).toBe('gw-1');
      expect(page.devices.length).toBeLessThanOrEqual(2);
      expect(page.caCertificates.map((c) => c.name)).toEqual(['scope-ca']);
      expect(page.caCertificates[0]?.thumbprint).toBe(pki.root.cert.sha256);
      seen.push(...page.devices.map((d) => d.deviceId));
      path = page.continuationLink;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(['gw-1-child', 's-a', 's-b', 's-c', 's-d']);
  });

  it('serves one record by targetDeviceId, null outside the subtree or when absent', async () => {
    const inside = await get(scopePaths.one('gw-1', 's-c'), 'gw-1');
    expect(inside.status).toBe(200);
    expect(scopeOneSchema.parse(inside.body).device?.deviceId).toBe('s-c');
    for (const target of ['s-e', 'gw-1', 'does-not-exist']) {
      const res = await get(scopePaths.one('gw-1', target), 'gw-1');
      expect(res.status).toBe(200);
      expect(scopeOneSchema.parse(res.body).device).toBeNull();
    }
    expect(
      (await get(scopePaths.all('gw-1').replace('devicesAndModules', 'deviceAndModule'), 'gw-1')).status,
    ).toBe(400);
  });

  it("answers 403 to an edge device asking for another edge's scope", async () => {
    const res = await get(scopePaths.all('gw-2'), 'gw-1');
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: 'GH_ERR_UNAUTHORIZED', message: expect.stringContaining('gw-1') });
    expect((await get(scopePaths.one('gw-2', 's-e'), 'gw-1')).status).toBe(403);
  });

  it('answers 401 without a certificate or with an unknown one, 403 to a non-edge device', async () => {
    expect((await get(scopePaths.all('gw-1'))).status).toBe(401);
    const stranger = await pki.selfSigned('gw-1');
    const res = await rawRequest(t.hub, { method: 'GET', path: scopePaths.all('gw-1'), cert: stranger });
    expect(res.status).toBe(401);
    expect((await get(scopePaths.all('plain'), 'plain')).status).toBe(403);
    expect((await get(scopePaths.all('gw-off'), 'gw-off')).status).toBe(401);
  });

  it('refuses bad paging parameters', async () => {
    expect((await get(`${scopePaths.all('gw-1')}?pageSize=0`, 'gw-1')).status).toBe(400);
    expect((await get(`${scopePaths.all('gw-1')}?pageSize=abc`, 'gw-1')).status).toBe(400);
    expect((await get(`${scopePaths.all('gw-1')}?continuation=%2F%2F`, 'gw-1')).status).toBe(400);
  });
});
