import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubHandle } from '../../../src/hub/index.ts';
import { silentLogger } from '../../../src/logger.ts';
import { createScopeClient } from '../../../src/registry/index.ts';
import { startScopeServer } from '../../../src/registry/scope-server.ts';
import { makeCred, makeTempDir, makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';
import { startTestHub, type TestHub } from '../hub/helpers.ts';
import { cacheSyncedFromHub } from './helpers.ts';

/**
 * A resumed TLS session restores the client's leaf but not the intermediates it sent. Node's HTTPS
 * agent resumes on its next connection (here: after the idle keep-alive socket timed out), so an
 * edge whose CA-signed identity runs through an intermediate must still be accepted then.
 */
describe('scope API: an edge with a CA-signed identity (leaf + intermediate) on its next connection', () => {
  let t: TestHub;
  let hub: HubHandle;
  let pki: TestPki;
  let parentId: TestCred;
  let child: TestCred;

  beforeAll(async () => {
    pki = await makeTestPki();
    t = await startTestHub();
    hub = t.hub;
    // The verified CA is the root; identities are issued by the intermediate, which they send.
    const { verificationCode } = await hub.admin.uploadCa('fleet-root', pki.root.cert.pem);
    await hub.admin.verifyCa(
      'fleet-root',
      (await makeCred('verification', verificationCode, pki.root)).cert.pem,
    );
    parentId = await pki.device('gw-parent', { chainExtra: [pki.intermediate.cert] });
    child = await pki.device('gw-child', { chainExtra: [pki.intermediate.cert] });
    await hub.admin.addDevice({ deviceId: 'gw-parent', auth: { type: 'certificateAuthority' }, edge: true });
    await hub.admin.addDevice({
      deviceId: 'gw-child',
      auth: { type: 'certificateAuthority' },
      edge: true,
      parentId: 'gw-parent',
    });
  });

  afterAll(async () => {
    await t?.cleanup();
  });

  /** Two page requests on two connections: the idle socket times out in between. */
  async function twice(port: number, servername: string, caPem: string, edgeId: string, cred: TestCred) {
    const c = createScopeClient({
      host: '127.0.0.1',
      port,
      servername,
      edgeDeviceId: edgeId,
      caPem,
      certPem: cred.chainPem,
      keyPem: cred.keyPem,
      timeoutMs: 300,
    });
    try {
      const first = await c.fetchPage(null);
      await new Promise((r) => setTimeout(r, 800));
      const second = await c.fetchPage(null);
      return [first.edgeDeviceId, second.edgeDeviceId];
    } finally {
      c.close();
    }
  }

  it('is accepted by the hub', async () => {
    expect(await twice(hub.apiPort, hub.hostname, hub.rootCaPem, 'gw-parent', parentId)).toEqual([
      'gw-parent',
      'gw-parent',
    ]);
  });

  it('is accepted by a parent gateway’s scope API', async () => {
    const cacheDir = await makeTempDir('gatehouse-scope-resumed-parent-');
    const cache = await cacheSyncedFromHub({
      hub,
      dataDir: cacheDir.dir,
      edgeDeviceId: 'gw-parent',
      identity: parentId,
    });
    const serverCred = await pki.server('localhost');
    const server = await startScopeServer({
      cache,
      tls: { cert: serverCred.chainPem, key: serverCred.keyPem },
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
    });
    try {
      expect(await cache.syncNow()).toBe(true);
      expect(await twice(server.port, 'localhost', pki.root.cert.pem, 'gw-child', child)).toEqual([
        'gw-child',
        'gw-child',
      ]);
      // Also after the server certificate is swapped (renewal).
      const renewed = await pki.server('localhost');
      server.setSecureContext({ cert: renewed.chainPem, key: renewed.keyPem });
      expect(await twice(server.port, 'localhost', pki.root.cert.pem, 'gw-child', child)).toEqual([
        'gw-child',
        'gw-child',
      ]);
    } finally {
      await server.close();
      await cache.close();
      await cacheDir.cleanup();
    }
  });
});
