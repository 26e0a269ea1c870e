import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEstClient } from '../../../src/est/client.ts';
import { createCsr } from '../../../src/est/csr.ts';
import { EDGE_CA_LABEL, edgeCaCommonName } from '../../../src/est/labels.ts';
import {
  type CertInfo,
  generateKeyPair,
  parseCertificateDer,
  parseCertificatePem,
  validateChain,
} from '../../../src/pki/index.ts';
import { makeCred } from '../../helpers/pki.ts';
import { connectDevice, type EstEnv, GATEWAY_ID, startEstEnv } from './helpers.ts';

/** The server chain the gateway presented to `client`, leaf first. */
function presented(client: MqttClient): CertInfo[] {
  const chain: CertInfo[] = [];
  let cert = (client.stream as TLSSocket).getPeerCertificate(true);
  for (let i = 0; i < 4 && cert?.raw; i++) {
    chain.push(parseCertificateDer(cert.raw));
    if (cert.issuerCertificate === cert) break;
    cert = cert.issuerCertificate;
  }
  return chain;
}

describe('Edge CA enrolled over EST ([edge_ca] method = "est")', () => {
  let env: EstEnv;
  let estRoot: CertInfo;
  const sensor = makeCred('self-signed-device', 'sensor-e', undefined);

  beforeAll(async () => {
    env = await startEstEnv({ estEdgeCa: true });
    estRoot = parseCertificatePem(
      await readFile(join(env.dir, 'hub', 'tls', 'est-edge-root.cert.pem'), 'utf8'),
    );
    await env.hub.admin.addDevice({
      deviceId: 'sensor-e',
      parentId: GATEWAY_ID,
      auth: { type: 'selfSigned', primaryThumbprint: (await sensor).cert.sha256 },
    });
    expect(await env.gw.registry.syncNow?.()).toBe(true);
  });
  afterAll(async () => {
    await env?.close();
  });

  it('enrolls the Edge CA with the identity; devices trusting the EST root verify the gateway', async () => {
    const edgeCa = env.gw.edgeCa();
    expect(edgeCa.quickstart).toBe(false);
    expect(edgeCa.cert.subjectCn).toBe(edgeCaCommonName(GATEWAY_ID));
    expect(edgeCa.cert.issuerCn).toBe('Gatehouse Hub Edge CA Root');
    // Its root is no device CA at the hub: leaves an Edge CA signs never authenticate there.
    expect((await env.hub.admin.listCas()).map((c) => c.thumbprint)).not.toContain(estRoot.sha256);
    expect(edgeCa.cert.pathLen).toBe(0);
    const client = await connectDevice(env.gw.port, estRoot.pem, 'sensor-e', await sensor);
    try {
      const chain = presented(client);
      expect(chain[0]?.serialHex).toBe(env.gw.serverCertificate().serialHex);
      expect(chain[1]?.sha256).toBe(edgeCa.cert.sha256);
    } finally {
      await client.endAsync();
    }
  });

  it('renews the Edge CA: the server certificate is reissued from it, established clients stay', async () => {
    const oldCa = env.gw.edgeCa().cert;
    const oldServer = env.gw.serverCertificate();
    const a = await connectDevice(env.gw.port, estRoot.pem, 'sensor-e', await sensor);
    try {
      const renewed = await env.gw.renewEdgeCa();
      expect(renewed.serialHex).not.toBe(oldCa.serialHex);
      expect(env.gw.edgeCa().cert.sha256).toBe(renewed.sha256);
      const server = env.gw.serverCertificate();
      expect(server.serialHex).not.toBe(oldServer.serialHex);
      expect(
        validateChain({ leaf: server, intermediates: [renewed], anchors: [estRoot], at: Date.now() }).ok,
      ).toBe(true);
      await a.publishAsync('devices/sensor-e/messages/events/', 'still here', { qos: 1 });
      expect(a.connected).toBe(true);
      const b = await connectDevice(env.gw.port, estRoot.pem, 'sensor-e', await sensor);
      expect(presented(b)[1]?.sha256).toBe(renewed.sha256);
      await b.endAsync();
    } finally {
      await a.endAsync();
    }
  });

  it('the hub refuses an Edge CA to a device that is not an IoT Edge device, and a wrong CN', async () => {
    const client = createEstClient({
      url: `https://127.0.0.1:${env.hub.apiPort}/.well-known/est`,
      trustPem: env.hub.rootCaPem,
    });
    const leafDev = await sensor;
    const auth = { certPem: leafDev.chainPem, keyPem: leafDev.keyPem };
    const notEdge = await client.enroll(
      'simpleenroll',
      await createCsr(await generateKeyPair(), edgeCaCommonName('sensor-e')),
      auth,
      EDGE_CA_LABEL,
    );
    expect(notEdge.status).toBe(403);
    expect(JSON.parse(notEdge.body)).toMatchObject({ reason: 'not-edge-device' });

    const edgeDev = await makeCred('self-signed-device', 'gw-other', undefined);
    await env.hub.admin.addDevice({
      deviceId: 'gw-other',
      edge: true,
      auth: { type: 'selfSigned', primaryThumbprint: edgeDev.cert.sha256 },
    });
    const wrongCn = await client.enroll(
      'simpleenroll',
      await createCsr(await generateKeyPair(), edgeCaCommonName(GATEWAY_ID)),
      { certPem: edgeDev.chainPem, keyPem: edgeDev.keyPem },
      EDGE_CA_LABEL,
    );
    expect(wrongCn.status).toBe(400);
    const unknownLabel = await client.enroll(
      'simpleenroll',
      await createCsr(await generateKeyPair(), 'x'),
      auth,
      'other',
    );
    expect(unknownLabel.status).toBe(404);
  });
});
