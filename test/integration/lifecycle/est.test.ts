import { stat } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EstConfig } from '../../../src/config/types.ts';
import { createEstClient, type EstClient } from '../../../src/est/client.ts';
import { createCsr } from '../../../src/est/csr.ts';
import { EstIdentityManager } from '../../../src/est/identity.ts';
import { decodeCertsOnly } from '../../../src/est/pkcs7.ts';
import { type HubHandle, startHub } from '../../../src/hub/index.ts';
import { silentLogger } from '../../../src/logger.ts';
import { generateKeyPair, validateChain } from '../../../src/pki/index.ts';
import { makeCred, makeTempDir, type TestCred, writeTestCred } from '../../helpers/pki.ts';

const RENEW = {
  rotateKey: true,
  threshold: { kind: 'percent', value: 80 },
  retry: { kind: 'percent', value: 4 },
} as const;

describe('EST against the mock hub', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let hub: HubHandle;
  let bootstrap: TestCred;
  let est: EstConfig;
  let client: EstClient;

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('gatehouse-est-'));
    hub = await startHub({ dataDir: join(dir, 'hub'), mqttPort: 0, apiPort: 0, estCertDays: 30 });
    bootstrap = await makeCred('self-signed-device', 'gw-1', undefined, { days: 3650 });
    const boot = await writeTestCred(dir, 'bootstrap', bootstrap);
    await hub.admin.addDevice({
      deviceId: 'gw-1',
      edge: true,
      auth: { type: 'selfSigned', primaryThumbprint: bootstrap.cert.sha256 },
    });
    est = {
      url: `https://127.0.0.1:${hub.apiPort}/.well-known/est`,
      trustedCerts: [hub.rootCaPath],
      bootstrapIdentityCert: boot.cert,
      bootstrapIdentityPk: boot.key,
      identityAutoRenew: RENEW,
    };
    client = createEstClient({ url: est.url, trustPem: hub.rootCaPem });
  });
  afterAll(async () => {
    await hub?.close();
    await cleanup?.();
  });

  it('serves cacerts as base64 certs-only PKCS#7 with the EST CA', async () => {
    const [ca, ...rest] = await client.caCerts();
    expect(rest).toEqual([]);
    expect(ca?.subjectCn).toBe('Gatehouse Hub EST CA');
    expect(ca?.isCa).toBe(true);
  });

  it('enrolls with the bootstrap certificate, renews with the identity, and the hub accepts each new one', async () => {
    const certsDir = join(dir, 'gw-certs');
    const manager = new EstIdentityManager({ est, deviceId: 'gw-1', dir: certsDir, log: silentLogger() });
    const first = await manager.ensure();
    const [estCa] = await client.caCerts();
    expect(first.cred.cert.subjectCn).toBe('gw-1');
    expect(validateChain({ leaf: first.cred.cert, anchors: [estCa!], at: Date.now() }).ok).toBe(true);
    expect((await stat(join(certsDir, 'est-identity.key.pem'))).mode & 0o777).toBe(0o600);
    let record = await hub.admin.getDevice('gw-1');
    expect(record.authentication).toEqual({
      type: 'selfSigned',
      primaryThumbprint: first.cred.cert.sha256,
      secondaryThumbprint: bootstrap.cert.sha256,
    });

    const second = await manager.renew();
    expect(second.cred.cert.serialHex).not.toBe(first.cred.cert.serialHex);
    expect(second.keyPem).not.toBe(first.keyPem); // rotate_key = true
    record = await hub.admin.getDevice('gw-1');
    expect(record.authentication).toMatchObject({
      primaryThumbprint: second.cred.cert.sha256,
      secondaryThumbprint: first.cred.cert.sha256,
    });
    // A restart reuses the stored identity instead of enrolling again.
    const again = new EstIdentityManager({ est, deviceId: 'gw-1', dir: certsDir, log: silentLogger() });
    expect((await again.ensure()).cred.cert.sha256).toBe(second.cred.cert.sha256);
    // The EST CA was registered as a verified CA (CA-authenticated devices accept its certificates).
    expect((await hub.admin.listCas()).find((c) => c.thumbprint === estCa?.sha256)?.verified).toBe(true);
  });

  it('keeps the key on renewal when rotate_key = false', async () => {
    const certsDir = join(dir, 'gw-keep');
    const keep = { ...est, identityAutoRenew: { ...RENEW, rotateKey: false } };
    // The bootstrap is now the secondary thumbprint at most; register a fresh device for this case.
    const boot = await makeCred('self-signed-device', 'gw-keep', undefined);
    const paths = await writeTestCred(dir, 'boot-keep', boot);
    await hub.admin.addDevice({
      deviceId: 'gw-keep',
      auth: { type: 'selfSigned', primaryThumbprint: boot.cert.sha256 },
    });
    const manager = new EstIdentityManager({
      est: { ...keep, bootstrapIdentityCert: paths.cert, bootstrapIdentityPk: paths.key },
      deviceId: 'gw-keep',
      dir: certsDir,
      log: silentLogger(),
    });
    const first = await manager.ensure();
    const second = await manager.renew();
    expect(second.keyPem).toBe(first.keyPem);
    expect(second.cred.cert.serialHex).not.toBe(first.cred.cert.serialHex);
  });

  it('never locks a device out when answers are lost: the authenticating certificate stays accepted', async () => {
    const boot = await makeCred('self-signed-device', 'gw-lost', undefined);
    await hub.admin.addDevice({
      deviceId: 'gw-lost',
      auth: { type: 'selfSigned', primaryThumbprint: boot.cert.sha256 },
    });
    const auth = { certPem: boot.chainPem, keyPem: boot.keyPem };
    for (let i = 0; i < 3; i++) {
      // The device never stores these answers (lost on the way back, crash, full disk…).
      const res = await client.enroll(
        'simpleenroll',
        await createCsr(await generateKeyPair('ec-p256'), 'gw-lost'),
        auth,
      );
      expect(res.status).toBe(200);
    }
    const record = await hub.admin.getDevice('gw-lost');
    expect(record.authentication).toMatchObject({ secondaryThumbprint: boot.cert.sha256 });
  });

  describe('refusals', () => {
    const csrFor = async (id: string) => createCsr(await generateKeyPair('ec-p256'), id);

    it('refuses an unauthenticated enroll (no client certificate) with 401', async () => {
      const res = await client.enroll('simpleenroll', await csrFor('gw-1'), undefined);
      expect(res.status).toBe(401);
      expect(res.contentType).toMatch(/application\/json/);
    });

    it('refuses a certificate the registry does not accept for the device with 403', async () => {
      const stranger = await makeCred('self-signed-device', 'gw-1', undefined);
      const res = await client.enroll('simpleenroll', await csrFor('gw-1'), {
        certPem: stranger.chainPem,
        keyPem: stranger.keyPem,
      });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body)).toMatchObject({
        code: 'GH_ERR_UNAUTHORIZED',
        reason: 'thumbprint-mismatch',
      });
    });

    it('refuses a request naming another device than the authenticated one', async () => {
      const other = await makeCred('self-signed-device', 'dev-other', undefined);
      await hub.admin.addDevice({
        deviceId: 'dev-other',
        auth: { type: 'selfSigned', primaryThumbprint: other.cert.sha256 },
      });
      const res = await client.enroll('simpleenroll', await csrFor('gw-1'), {
        certPem: other.chainPem,
        keyPem: other.keyPem,
      });
      expect(res.status).toBe(403);
    });

    it('refuses simplereenroll authenticated with a certificate not from the EST CA', async () => {
      const dev = await makeCred('self-signed-device', 'dev-boot', undefined);
      await hub.admin.addDevice({
        deviceId: 'dev-boot',
        auth: { type: 'selfSigned', primaryThumbprint: dev.cert.sha256 },
      });
      const auth = { certPem: dev.chainPem, keyPem: dev.keyPem };
      const res = await client.enroll('simplereenroll', await csrFor('dev-boot'), auth);
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body)).toMatchObject({ reason: 'not-est-identity' });
      // The same certificate may bootstrap (simpleenroll) — that is what it is registered for.
      const ok = await client.enroll('simpleenroll', await csrFor('dev-boot'), auth);
      expect(ok.status).toBe(200);
      expect(decodeCertsOnly(ok.body)[0]?.subjectCn).toBe('dev-boot');
    });

    it('refuses a disabled device', async () => {
      const dev = await makeCred('self-signed-device', 'dev-off', undefined);
      await hub.admin.addDevice({
        deviceId: 'dev-off',
        disabled: true,
        auth: { type: 'selfSigned', primaryThumbprint: dev.cert.sha256 },
      });
      const res = await client.enroll('simpleenroll', await csrFor('dev-off'), {
        certPem: dev.chainPem,
        keyPem: dev.keyPem,
      });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body)).toMatchObject({ reason: 'disabled' });
    });

    it('refuses a body that is not a PKCS#10 request', async () => {
      const res = await client.enroll('simpleenroll', Buffer.from('nonsense').toString('base64'), {
        certPem: bootstrap.chainPem,
        keyPem: bootstrap.keyPem,
      });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'GH_ERR_INPUT' });
    });

    it('refuses a request that is not application/pkcs10 with 415', async () => {
      const res = await postRaw(hub, 'simpleenroll', 'application/json', await csrFor('gw-1'), bootstrap);
      expect(res.status).toBe(415);
    });
  });
});

/** A POST with any content type (the EST client always sends application/pkcs10). */
function postRaw(
  hub: HubHandle,
  op: string,
  contentType: string,
  body: string,
  auth: TestCred,
): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: hub.apiPort,
        path: `/.well-known/est/${op}`,
        method: 'POST',
        ca: hub.rootCaPem,
        cert: auth.chainPem,
        key: auth.keyPem,
        agent: false,
        headers: { 'content-type': contentType },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
