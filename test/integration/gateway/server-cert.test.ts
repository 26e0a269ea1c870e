import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import { createGateway } from '../../../src/gateway.ts';
import { createLogger } from '../../../src/logger.ts';
import { readTextFile } from '../../../src/pki/index.ts';
import { makeCred, writeTestCred } from '../../helpers/pki.ts';
import { connectDevice, type GatewayEnv, logSink, startGatewayEnv, thumbprintAuth } from './helpers.ts';

let env: GatewayEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** A plain Node TLS client with the default checkServerIdentity; resolves the presented chain. */
function tlsChain(port: number, ca: string, servername: string): Promise<PeerCertificate[]> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, ca, servername }, () => {
      const chain: PeerCertificate[] = [];
      let cert = socket.getPeerCertificate(true);
      for (let i = 0; i < 5 && cert?.raw; i++) {
        chain.push(cert);
        if (cert.issuerCertificate === cert || !cert.issuerCertificate) break;
        cert = cert.issuerCertificate;
      }
      socket.destroy();
      resolve(chain);
    });
    socket.on('error', reject);
  });
}

describe('server certificate issued by the Edge CA', () => {
  it('presents leaf + Edge CA + intermediate for the hostname; a Node client verifies it, another name fails', async () => {
    env = await startGatewayEnv();
    const chain = await tlsChain(env.gw.port, env.deviceTrustPem, 'localhost');
    // Node appends the trusted root it verified against; what the server sent is everything before it.
    expect(chain.map((c) => c.subject.CN)).toEqual([
      'localhost',
      'Gatehouse Test Edge CA',
      'Gatehouse Test Intermediate CA',
      'Gatehouse Test Root CA',
    ]);
    expect(chain[0]?.subjectaltname).toBe('DNS:localhost');
    expect(chain[0]?.serialNumber).toBe(env.gw.serverCertificate().serialHex);
    await expect(tlsChain(env.gw.port, env.deviceTrustPem, 'other.example')).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  it('keeps its server certificate across restarts', async () => {
    env = await startGatewayEnv();
    const first = env.gw.serverCertificate();
    await env.gw.close();
    const again = await env.startGateway();
    expect(again.serverCertificate().sha256).toBe(first.sha256);
  });

  it('swaps the server certificate at run time: established clients stay, new clients see the new serial', async () => {
    env = await startGatewayEnv();
    const cred = await env.pki.selfSigned('swap-dev');
    await env.addDevice('swap-dev', thumbprintAuth(cred));
    await env.sync();
    const before = await connectDevice(env, 'swap-dev', cred, { clientId: 'swap-dev' });
    const oldSerial = (before.stream as TLSSocket).getPeerCertificate().serialNumber;
    const renewed = await env.gw.reloadSecureContext({ reissue: true });
    expect(renewed.serialHex).not.toBe(oldSerial);
    // The established connection still works.
    await before.publishAsync('devices/swap-dev/messages/events/', 'still here', { qos: 1 });
    expect(before.connected).toBe(true);
    const chain = await tlsChain(env.gw.port, env.deviceTrustPem, 'localhost');
    expect(chain[0]?.serialNumber).toBe(renewed.serialHex);
    await before.endAsync();
  });

  it('refuses to start with an Edge CA whose CN equals the hostname', async () => {
    env = await startGatewayEnv({ start: false });
    const bad = await makeCred('edge-ca', 'localhost', env.pki.intermediate, {
      chainExtra: [env.pki.intermediate.cert],
    });
    const files = await writeTestCred(env.dir, 'bad-edge', bad);
    const config = { ...env.config, edgeCa: { ...env.config.edgeCa, cert: files.chain, pk: files.key } };
    const err = await createGateway({ config, logger: createLogger({ level: 'silent' }) }).catch(
      (e: unknown) => e,
    );
    expect(isGatehouseError(err, 'GH_ERR_PROFILE')).toBe(true);
    expect((err as Error).message).toMatch(/must differ from the gateway hostname "localhost"/);
  });
});

describe('quickstart Edge CA', () => {
  it('is generated on first start with 0600 keys and a loud warning, reused afterwards, and trusted via its root', async () => {
    env = await startGatewayEnv({ edgeCa: 'quickstart' });
    const info = env.gw.edgeCa();
    expect(info.quickstart).toBe(true);
    expect(info.cert.subjectCn).toBe('Gatehouse quickstart Edge CA');
    const warning = env.logs.find((l) => /NOT FOR PRODUCTION/.test(l.msg));
    expect(warning).toMatchObject({ level: 40, trust: info.quickstartRootPath });
    const certs = join(env.config.gateway.dataDir, 'certs');
    for (const key of ['quickstart-root.key.pem', 'quickstart-edge-ca.key.pem', 'server.key.pem']) {
      expect((await stat(join(certs, key))).mode & 0o777).toBe(0o600);
    }
    const rootPem = await readTextFile(info.quickstartRootPath as string, 'root');
    const chain = await tlsChain(env.gw.port, rootPem, 'localhost');
    expect(chain.map((c) => c.subject.CN)).toEqual([
      'localhost',
      'Gatehouse quickstart Edge CA',
      'Gatehouse quickstart root',
    ]);
    const serverSha = env.gw.serverCertificate().sha256;
    await env.gw.close();
    const sink = logSink();
    env.gw = await createGateway({ config: env.config, logger: createLogger({ destination: sink }) });
    expect(env.gw.edgeCa().cert.sha256).toBe(info.cert.sha256);
    expect(env.gw.serverCertificate().sha256).toBe(serverSha);
    expect(sink.lines.some((l) => /NOT FOR PRODUCTION/.test(l.msg))).toBe(true);
  });
});
