import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type HubHandle, startHub } from '../../../src/hub/index.ts';
import { type ScopePage, scopePaths } from '../../../src/iothub/scope-api.ts';
import { silentLogger } from '../../../src/logger.ts';
import type { DeviceRecord } from '../../../src/registry/device.ts';
import {
  createRegistryCache,
  createScopeClient,
  type ScopeClientOptions,
} from '../../../src/registry/index.ts';
import { makeCred, makeTempDir, makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';
import { cacheSyncedFromHub } from './helpers.ts';

const EDGE = 'gw-1';

function record(deviceId: string): DeviceRecord {
  return {
    deviceId,
    status: 'enabled',
    authentication: { type: 'selfSigned', primaryThumbprint: 'A'.repeat(64) },
    capabilities: { iotEdge: false },
    parentId: EDGE,
    etag: `etag-${deviceId}`,
    generation: 1,
    lastUpdated: '2024-01-01T00:00:00.000Z',
  };
}

interface Seen {
  path: string;
  peerCn: string | undefined;
  authorized: boolean;
}

type Handler = (path: string, res: ServerResponse) => void;

let pki: TestPki;
let otherPki: TestPki;
let identity: TestCred;
let server: Server;
let port: number;
let handler: Handler;
const seen: Seen[] = [];
const hanging = new Set<ServerResponse>();

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}

/** Two pages: d1, d2, then d3. */
const pagedScope: Handler = (path, res) => {
  const second = path.includes('continuation=');
  const page: ScopePage = {
    edgeDeviceId: EDGE,
    devices: second ? [record('d3')] : [record('d1'), record('d2')],
    caCertificates: [],
    continuationLink: second ? null : `${scopePaths.all(EDGE)}?pageSize=2&continuation=ZDI`,
  };
  json(res, 200, page);
};

beforeAll(async () => {
  pki = await makeTestPki();
  otherPki = await makeTestPki();
  identity = await pki.device(EDGE);
  const serverCred = await pki.server('localhost', { extraNames: ['127.0.0.1'] });
  server = createServer(
    {
      key: serverCred.keyPem,
      cert: serverCred.chainPem,
      ca: pki.root.cert.pem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      seen.push({
        path: req.url ?? '',
        peerCn: socket.getPeerCertificate().subject?.CN as string | undefined,
        authorized: socket.authorized,
      });
      handler(req.url ?? '', res);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(() => {
  for (const res of hanging) res.destroy();
  hanging.clear();
  seen.length = 0;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function client(overrides: Partial<ScopeClientOptions> = {}) {
  const c = createScopeClient({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    edgeDeviceId: EDGE,
    caPem: pki.root.cert.pem,
    certPem: identity.chainPem,
    keyPem: identity.keyPem,
    timeoutMs: 2000,
    ...overrides,
  });
  return c;
}

describe('scope client (mTLS)', () => {
  it('authenticates with the identity certificate and follows continuation pages', async () => {
    handler = pagedScope;
    const c = client({ pageSize: 2 });
    try {
      const first = await c.fetchPage(null);
      expect(first.devices.map((d) => d.deviceId)).toEqual(['d1', 'd2']);
      const second = await c.fetchPage(first.continuationLink);
      expect(second.devices.map((d) => d.deviceId)).toEqual(['d3']);
      expect(second.continuationLink).toBeNull();
    } finally {
      c.close();
    }
    expect(seen).toEqual([
      { path: `${scopePaths.all(EDGE)}?pageSize=2`, peerCn: EDGE, authorized: true },
      { path: `${scopePaths.all(EDGE)}?pageSize=2&continuation=ZDI`, peerCn: EDGE, authorized: true },
    ]);
  });

  it('fetches one device by id (URL-encoded)', async () => {
    handler = (path, res) =>
      json(res, 200, {
        edgeDeviceId: EDGE,
        device: path.includes('odd') ? null : record("it's"),
        caCertificates: [],
      });
    const c = client();
    try {
      expect((await c.fetchOne("it's"))?.device?.deviceId).toBe("it's");
      expect((await c.fetchOne('odd:1'))?.device).toBeNull();
    } finally {
      c.close();
    }
    expect(seen.map((s) => s.path)).toEqual([scopePaths.one(EDGE, "it's"), scopePaths.one(EDGE, 'odd:1')]);
  });

  it('verifies an IP servername against the IP SAN (no SNI)', async () => {
    handler = pagedScope;
    const c = client({ servername: '127.0.0.1' });
    try {
      expect((await c.fetchPage(null)).edgeDeviceId).toBe(EDGE);
    } finally {
      c.close();
    }
  });

  it('feeds a registry cache end to end', async () => {
    handler = pagedScope;
    const tmp = await makeTempDir('gatehouse-scope-client-');
    const cache = await createRegistryCache({
      dataDir: tmp.dir,
      edgeDeviceId: EDGE,
      settings: {
        refreshIntervalSecs: 3600,
        cacheSize: 100,
        onDemandMinIntervalSecs: 30,
        negativeTtlSecs: 30,
      },
      source: client(),
      logger: silentLogger(),
      autoSync: false,
    });
    try {
      expect(await cache.syncNow()).toBe(true);
      expect([...cache.records()].map((r) => r.deviceId)).toEqual(['d1', 'd2', 'd3']);
    } finally {
      await cache.close();
      await tmp.cleanup();
    }
  });
});

describe('scope client refusals', () => {
  it('refuses a server whose chain does not lead to the trust bundle', async () => {
    handler = pagedScope;
    const c = client({ caPem: otherPki.root.cert.pem });
    try {
      await expect(c.fetchPage(null)).rejects.toMatchObject({ code: 'GH_ERR_CHAIN' });
    } finally {
      c.close();
    }
    expect(seen).toEqual([]);
  });

  it('refuses a server certificate for another hostname', async () => {
    handler = pagedScope;
    const c = client({ servername: 'hub.example.com' });
    try {
      await expect(c.fetchPage(null)).rejects.toMatchObject({
        code: 'GH_ERR_CHAIN',
        message: expect.stringContaining('ERR_TLS_CERT_ALTNAME_INVALID'),
      });
    } finally {
      c.close();
    }
    expect(seen).toEqual([]);
  });

  it('is refused by the server with an identity it does not trust', async () => {
    handler = pagedScope;
    const stranger = await otherPki.device(EDGE);
    const c = client({ certPem: stranger.chainPem, keyPem: stranger.keyPem });
    try {
      await expect(c.fetchPage(null)).rejects.toMatchObject({ code: 'GH_ERR_UNREACHABLE' });
    } finally {
      c.close();
    }
    expect(seen).toEqual([]);
  });

  it.each([
    [
      'malformed JSON',
      (res: ServerResponse) => json(res, 200, '{"edgeDeviceId": "gw-1", '),
      'GH_ERR_PROTOCOL',
      /response is not JSON/,
    ],
    [
      'JSON of the wrong shape',
      (res: ServerResponse) => json(res, 200, { devices: 'all of them' }),
      'GH_ERR_PROTOCOL',
      /malformed response/,
    ],
    [
      'another edge device',
      (res: ServerResponse) =>
        json(res, 200, { edgeDeviceId: 'gw-9', devices: [], caCertificates: [], continuationLink: null }),
      'GH_ERR_PROTOCOL',
      /for edge device "gw-9"/,
    ],
    [
      '403',
      (res: ServerResponse) => json(res, 403, { code: 'GH_ERR_UNAUTHORIZED', message: 'not an edge device' }),
      'GH_ERR_UNAUTHORIZED',
      /HTTP 403: not an edge device/,
    ],
    ['500', (res: ServerResponse) => json(res, 500, 'oops'), 'GH_ERR_PROTOCOL', /HTTP 500$/],
    [
      'an oversized body',
      (res: ServerResponse) => json(res, 200, 'x'.repeat(50_000)),
      'GH_ERR_PROTOCOL',
      /larger than 10000 bytes/,
    ],
  ])('refuses %s', async (_name, respond, code, message) => {
    handler = (_path, res) => respond(res);
    const c = client({ maxBodyBytes: 10_000 });
    try {
      await expect(c.fetchPage(null)).rejects.toMatchObject({
        code,
        message: expect.stringMatching(message),
      });
    } finally {
      c.close();
    }
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    handler = (_path, res) => void hanging.add(res);
    const c = client({ timeoutMs: 300 });
    try {
      await expect(c.fetchPage(null)).rejects.toMatchObject({
        code: 'GH_ERR_UNREACHABLE',
        message: expect.stringContaining('no answer within 300 ms'),
      });
    } finally {
      c.close();
    }
    expect(seen).toHaveLength(1);
  });

  it('refuses continuation links that leave the scope, without sending anything', async () => {
    handler = pagedScope;
    const c = client();
    try {
      for (const link of [
        `https://evil.example${scopePaths.all(EDGE)}`,
        `//evil.example${scopePaths.all(EDGE)}`,
        `${scopePaths.all('gw-2')}?continuation=x`,
        '/admin/v1/devices',
        'devices/gw-1/modules/$edgeHub/devicesAndModulesInDeviceScope',
      ]) {
        await expect(c.fetchPage(link), link).rejects.toMatchObject({ code: 'GH_ERR_PROTOCOL' });
      }
    } finally {
      c.close();
    }
    expect(seen).toEqual([]);
  });

  it('reports a closed port as unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const c = client({ port: freePort });
    try {
      await expect(c.fetchOne('x')).rejects.toMatchObject({ code: 'GH_ERR_UNREACHABLE' });
    } finally {
      c.close();
    }
  });
});

describe('scope client against the mock hub', () => {
  let hub: HubHandle;
  let hubDir: { dir: string; cleanup: () => Promise<void> };
  let gwCred: TestCred;

  beforeAll(async () => {
    hubDir = await makeTempDir('gatehouse-scope-hub-');
    hub = await startHub({
      dataDir: hubDir.dir,
      mqttPort: 0,
      apiPort: 0,
      hostname: 'localhost',
      logger: silentLogger(),
    });
    gwCred = await pki.selfSigned('hub-gw');
    await hub.admin.addDevice({
      deviceId: 'hub-gw',
      auth: { type: 'selfSigned', primaryThumbprint: gwCred.cert.sha256 },
      edge: true,
    });
    for (let i = 0; i < 7; i++) {
      await hub.admin.addDevice({
        deviceId: `sensor-${i}`,
        auth: { type: 'certificateAuthority' },
        parentId: 'hub-gw',
      });
    }
    await hub.admin.addDevice({ deviceId: 'elsewhere', auth: { type: 'certificateAuthority' } });
    const { verificationCode } = await hub.admin.uploadCa('fleet-ca', pki.intermediate.cert.pem);
    await hub.admin.verifyCa(
      'fleet-ca',
      (await makeCred('verification', verificationCode, pki.intermediate)).cert.pem,
    );
  });

  afterAll(async () => {
    await hub?.close();
    await hubDir?.cleanup();
  });

  it('syncs the gateway subtree and verified CAs, pages included, and fetches on demand', async () => {
    const tmp = await makeTempDir('gatehouse-scope-hub-gw-');
    const changes: string[][] = [];
    const cache = await cacheSyncedFromHub({
      hub,
      dataDir: tmp.dir,
      edgeDeviceId: 'hub-gw',
      identity: gwCred,
      pageSize: 3,
    });
    cache.onChange((c) => changes.push(c.disabledOrRemoved));
    try {
      expect(await cache.syncNow()).toBe(true);
      expect([...cache.records()].map((r) => r.deviceId)).toEqual(
        Array.from({ length: 7 }, (_, i) => `sensor-${i}`),
      );
      expect(cache.get('elsewhere')).toBeUndefined();
      expect(cache.verifiedCas().map((c) => c.sha256)).toEqual([pki.intermediate.cert.sha256]);

      await hub.admin.addDevice({
        deviceId: 'late',
        auth: { type: 'certificateAuthority' },
        parentId: 'hub-gw',
      });
      expect((await cache.lookup('late'))?.parentId).toBe('hub-gw');
      expect(await cache.lookup('elsewhere')).toBeUndefined();

      await hub.admin.updateDevice('sensor-3', { status: 'disabled' });
      await hub.admin.removeDevice('sensor-5');
      expect(await cache.syncNow()).toBe(true);
      expect(changes.at(-1)).toEqual(['sensor-3', 'sensor-5']);
      expect(cache.status()).toMatchObject({ state: 'synced', size: 7 });
    } finally {
      await cache.close();
      await tmp.cleanup();
    }
  });

  it('is refused by the hub for an identity that is not the edge device', async () => {
    const stranger = await pki.selfSigned('hub-gw');
    const c = createScopeClient({
      host: '127.0.0.1',
      port: hub.apiPort,
      servername: hub.hostname,
      edgeDeviceId: 'hub-gw',
      caPem: hub.rootCaPem,
      certPem: stranger.chainPem,
      keyPem: stranger.keyPem,
    });
    try {
      await expect(c.fetchPage(null)).rejects.toMatchObject({ code: 'GH_ERR_UNAUTHORIZED' });
    } finally {
      c.close();
    }
  });
});
