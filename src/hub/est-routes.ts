import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticateDevice } from '../auth/authenticate.ts';
import { GatehouseError } from '../errors.ts';
import { csrSubjectKeys, type ParsedCsr, parseCsr } from '../est/csr.ts';
import { EDGE_CA_LABEL, edgeCaCommonName } from '../est/labels.ts';
import { encodeCertsOnly } from '../est/pkcs7.ts';
import { httpError } from '../http-json.ts';
import type { Logger } from '../logger.ts';
import {
  type CertInfo,
  EKU_CLIENT_AUTH,
  type Issuer,
  issueCertificate,
  validateChain,
} from '../pki/index.ts';
import { peerChainOf } from '../pki/peer-chain.ts';
import { isDeviceId } from '../registry/device.ts';
import type { CaRegistry } from './cas.ts';
import type { DeviceRegistry } from './devices.ts';
import { registerEstCaVerified } from './est-ca.ts';

export const EST_PREFIX = '/.well-known/est';
/** A PKCS#10 request in base64 is well under this. */
const MAX_CSR_BODY = 64 * 1024;

export interface EstServices {
  readonly devices: DeviceRegistry;
  readonly cas: CaRegistry;
  readonly estCa: Issuer;
  /** Issues Edge CAs (label `edge-ca`); never a device CA at the hub. */
  readonly estEdgeRoot: Issuer;
  /** Lifetime of issued identity certificates, days (never beyond the EST CA). */
  readonly certDays: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

export type EstHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

export const isEstPath = (path: string): boolean => path === EST_PREFIX || path.startsWith(`${EST_PREFIX}/`);

/**
 * RFC 7030 EST on the hub's API port: `cacerts` for anyone, `simpleenroll` for a device presenting a
 * certificate the registry accepts for it (its bootstrap certificate: thumbprint or verified CA, the
 * same decision as an MQTT CONNECT), `simplereenroll` for a device presenting its current identity
 * certificate from this EST CA. The CSR's CN must be that device id. An issued certificate is
 * accepted by the hub at once: thumbprint devices get it as primary thumbprint (the certificate that
 * authenticated the request becomes secondary, so it keeps working until the next renewal); CA devices
 * accept it through the EST CA, registered as a verified CA on the first issuance.
 * Under the CA label `edge-ca` (`/.well-known/est/edge-ca/…`) an IoT Edge device, authenticated by its
 * identity certificate, gets an Edge CA from a separate root that is never a device CA.
 */
export function createEstRoutes(s: EstServices): EstHandler {
  const now = s.now ?? Date.now;
  return async (req, res, path) => {
    const [first = '', second, ...more] = path.slice(EST_PREFIX.length + 1).split('/');
    const label = second === undefined ? undefined : first;
    const op = second ?? first;
    if (more.length > 0 || (label !== undefined && label !== EDGE_CA_LABEL)) {
      throw httpError(404, 'GH_ERR_NOT_FOUND', `no such EST path: ${path.slice(0, 100)}`);
    }
    if (op === 'cacerts') {
      if (req.method !== 'GET') throw httpError(405, 'GH_ERR_INPUT', 'cacerts answers GET only');
      sendCertsOnly(res, [label === EDGE_CA_LABEL ? s.estEdgeRoot.cert : s.estCa.cert]);
      return;
    }
    if (op !== 'simpleenroll' && op !== 'simplereenroll') {
      throw httpError(404, 'GH_ERR_NOT_FOUND', `no such EST operation: ${op.slice(0, 60)}`);
    }
    if (req.method !== 'POST') throw httpError(405, 'GH_ERR_INPUT', `${op} answers POST only`);
    const peer = peerChainOf(req.socket);
    const leaf = peer.ok ? peer.chain[0] : undefined;
    if (!peer.ok || !leaf) {
      s.logger.warn({ op, reason: 'no-client-cert' }, 'EST request refused');
      throw httpError(401, 'GH_ERR_UNAUTHORIZED', `${op} needs a TLS client certificate`);
    }
    const csr = await parseCsr(await readCsrBody(req));
    // An identity request names its device in the CSR; an Edge CA request is made by the device's identity.
    const deviceId = label === undefined ? csr.commonName : leaf.subjectCn;
    if (deviceId === undefined || !isDeviceId(deviceId)) {
      throw httpError(400, 'GH_ERR_INPUT', 'certificate request: subject CN must be a device id');
    }
    const at = now();
    const decision = authenticateDevice({
      clientId: deviceId,
      username: undefined,
      peerChain: peer.chain,
      record: s.devices.lookup(deviceId),
      inScope: true,
      verifiedCas: s.cas.verifiedCerts(),
      now: at,
    });
    if (!decision.ok) {
      s.logger.warn({ op, deviceId, reason: decision.reason }, 'EST request refused');
      throw refused(
        `the client certificate is not accepted for "${deviceId}": ${decision.detail}`,
        decision.reason,
      );
    }
    if (label === EDGE_CA_LABEL) {
      sendCertsOnly(res, [await issueEdgeCa(s, csr, deviceId, op, at)]);
      return;
    }
    if (op === 'simplereenroll') assertCurrentIdentity(s.estCa.cert, leaf, deviceId, peer.chain.slice(1), at);
    const issued = await issue(s, csr, deviceId, at);
    await registerEstCaVerified(s.cas, s.estCa, new Date(at));
    rotateThumbprint(s.devices, deviceId, issued, leaf, at);
    s.logger.info(
      { op, deviceId, serial: issued.serialHex, notAfter: new Date(issued.notAfter).toISOString() },
      'EST issued an identity certificate',
    );
    sendCertsOnly(res, [issued]);
  };
}

/** RFC 7030 §4.2.2: re-enrollment is authenticated by the certificate being renewed. */
function assertCurrentIdentity(
  estCa: CertInfo,
  leaf: CertInfo,
  deviceId: string,
  intermediates: readonly CertInfo[],
  at: number,
): void {
  const chain = validateChain({ leaf, intermediates, anchors: [estCa], at, purpose: EKU_CLIENT_AUTH });
  if (!chain.ok) {
    throw refused(
      `simplereenroll needs the current identity certificate from this EST CA (${chain.detail})`,
      'not-est-identity',
    );
  }
  if (leaf.subjectCn !== deviceId) {
    throw refused(`the request's CN "${deviceId}" differs from the certificate being renewed`, 'cn-mismatch');
  }
}

/**
 * An Edge CA for an IoT Edge device (pathLen 0, CN `Edge CA <device id>`), requested with the device's
 * identity certificate; both enroll and re-enroll authenticate that way (the CA certificate itself is
 * not a TLS client certificate).
 */
async function issueEdgeCa(
  s: EstServices,
  csr: ParsedCsr,
  deviceId: string,
  op: string,
  at: number,
): Promise<CertInfo> {
  if (s.devices.lookup(deviceId)?.capabilities.iotEdge !== true) {
    throw refused(
      `"${deviceId}" is not an IoT Edge device; only those may have an Edge CA`,
      'not-edge-device',
    );
  }
  const commonName = edgeCaCommonName(deviceId);
  if (csr.commonName !== commonName) {
    throw httpError(
      400,
      'GH_ERR_INPUT',
      `certificate request: an Edge CA for "${deviceId}" must have CN "${commonName}"`,
    );
  }
  const issued = await issueCertificate({
    profile: 'edge-ca',
    commonName,
    subjectKeys: await csrSubjectKeys(csr),
    issuer: s.estEdgeRoot,
    days: s.certDays,
    now: new Date(at),
  });
  s.logger.info(
    { op, deviceId, serial: issued.serialHex, notAfter: new Date(issued.notAfter).toISOString() },
    'EST issued an Edge CA',
  );
  return issued;
}

async function issue(s: EstServices, csr: ParsedCsr, deviceId: string, at: number): Promise<CertInfo> {
  return issueCertificate({
    profile: 'client',
    commonName: deviceId,
    subjectKeys: await csrSubjectKeys(csr),
    issuer: s.estCa,
    days: s.certDays,
    now: new Date(at),
  });
}

/**
 * The issued certificate becomes primary; the one that authenticated this request stays as secondary
 * (not the previous primary: an answer the device never received must not lock it out).
 */
function rotateThumbprint(
  devices: DeviceRegistry,
  deviceId: string,
  issued: CertInfo,
  authenticatedWith: CertInfo,
  at: number,
): void {
  const record = devices.get(deviceId);
  if (record.authentication.type !== 'selfSigned') return;
  devices.update(
    deviceId,
    {
      auth: {
        type: 'selfSigned',
        primaryThumbprint: issued.sha256,
        secondaryThumbprint: authenticatedWith.sha256,
      },
    },
    at,
  );
}

function refused(message: string, reason: string): GatehouseError {
  return new GatehouseError('GH_ERR_UNAUTHORIZED', message, { details: { httpStatus: 403, reason } });
}

async function readCsrBody(req: IncomingMessage): Promise<string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/pkcs10') {
    throw httpError(415, 'GH_ERR_INPUT', `content-type must be application/pkcs10, got "${type || 'none'}"`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_CSR_BODY)
      throw httpError(413, 'GH_ERR_INPUT', `request body is larger than ${MAX_CSR_BODY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('latin1');
}

function sendCertsOnly(res: ServerResponse, certs: readonly CertInfo[]): void {
  const body = encodeCertsOnly(certs);
  res
    .writeHead(200, {
      'content-type': 'application/pkcs7-mime; smime-type=certs-only',
      'content-transfer-encoding': 'base64',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
    })
    .end(body);
}
