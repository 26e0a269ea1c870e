import { authenticateDevice } from '../auth/authenticate.ts';
import { httpError } from '../http-json.ts';
import {
  SCOPE_ROUTE_ALL,
  SCOPE_ROUTE_ONE,
  type ScopeCa,
  type ScopeOne,
  type ScopePage,
} from '../iothub/scope-api.ts';
import { buildScopePage, parsePageQuery } from '../iothub/scope-page.ts';
import type { Logger } from '../logger.ts';
import type { CertInfo } from '../pki/certificate.ts';
import { type PeerChain, peerChainOf } from '../pki/peer-chain.ts';
import { isDeviceId } from '../registry/device.ts';
import { isInSubtree } from '../registry/scope.ts';
import type { ApiResult } from './admin-routes.ts';
import type { CaRegistry } from './cas.ts';
import type { DeviceRegistry } from './devices.ts';

export interface ScopeRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The request's TLS socket (the client certificate is read from it). */
  readonly socket: unknown;
}

export interface ScopeServices {
  readonly devices: DeviceRegistry;
  readonly cas: CaRegistry;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** True when the path is one of the scope API's; such requests never need the admin token. */
export const isScopePath = (path: string): boolean =>
  SCOPE_ROUTE_ALL.test(path) || SCOPE_ROUTE_ONE.test(path);

/**
 * IoT Hub's device-scope API for edge devices. The caller proves with its TLS client certificate that
 * it IS the edge device named in the path (same decision as an MQTT CONNECT), and must be an enabled
 * IoT Edge device; it then sees exactly its subtree and the verified CAs.
 */
export function createScopeRoutes(s: ScopeServices): (req: ScopeRequest) => ApiResult {
  const now = s.now ?? Date.now;
  return (req) => {
    if (req.method !== 'GET') throw httpError(405, 'GH_ERR_INPUT', 'the scope API answers GET only');
    const all = SCOPE_ROUTE_ALL.exec(req.path);
    const one = all ? undefined : SCOPE_ROUTE_ONE.exec(req.path);
    const edgeId = decodeId((all ?? one)?.[1]);
    authorizeEdge(s, edgeId, peerChainOf(req.socket), now());
    const caCertificates = scopeCas(s.cas);
    if (all) return { status: 200, body: page(s.devices, edgeId, req.query, caCertificates) };
    const target = req.query.get('targetDeviceId');
    if (target === null || !isDeviceId(target)) {
      throw httpError(400, 'GH_ERR_INPUT', 'targetDeviceId is missing or not a valid device id');
    }
    const record = s.devices.lookup(target);
    const inScope = record !== undefined && isInSubtree(s.devices.lookup, edgeId, target);
    const body: ScopeOne = { edgeDeviceId: edgeId, device: inScope ? record : null, caCertificates };
    return { status: 200, body };
  };
}

function authorizeEdge(s: ScopeServices, edgeId: string, peer: PeerChain, at: number): void {
  if (!peer.ok || peer.chain.length === 0) {
    s.logger.warn({ edgeId, reason: 'no-client-cert' }, 'scope request refused');
    throw httpError(401, 'GH_ERR_UNAUTHORIZED', 'the scope API needs the edge device identity certificate');
  }
  const verifiedCas = s.cas.verifiedCerts();
  const decision = authenticateDevice({
    clientId: edgeId,
    username: undefined,
    peerChain: peer.chain,
    record: s.devices.lookup(edgeId),
    inScope: true,
    verifiedCas,
    now: at,
  });
  if (!decision.ok) {
    const caller = identify(s, peer.chain, verifiedCas, at);
    s.logger.warn(
      { edgeId, caller, reason: decision.reason, detail: decision.detail },
      'scope request refused',
    );
    if (caller !== undefined) {
      throw httpError(
        403,
        'GH_ERR_UNAUTHORIZED',
        `the certificate authenticates "${caller}", not "${edgeId}"`,
      );
    }
    throw httpError(401, 'GH_ERR_UNAUTHORIZED', `certificate refused for "${edgeId}": ${decision.reason}`);
  }
  if (s.devices.lookup(edgeId)?.capabilities.iotEdge !== true) {
    s.logger.warn({ edgeId, reason: 'not-edge' }, 'scope request refused');
    throw httpError(403, 'GH_ERR_UNAUTHORIZED', `"${edgeId}" is not an IoT Edge device`);
  }
}

/**
 * Who the certificate does authenticate as, if anyone: the CN for CA certificates, else a device
 * registered with its thumbprint. Only used to tell "wrong edge" (403) from "nobody" (401).
 */
function identify(
  s: ScopeServices,
  chain: readonly CertInfo[],
  verifiedCas: readonly CertInfo[],
  at: number,
) {
  const leaf = chain[0] as CertInfo;
  const candidates = new Set<string>();
  if (leaf.subjectCn && isDeviceId(leaf.subjectCn)) candidates.add(leaf.subjectCn);
  for (const r of s.devices.list()) {
    const a = r.authentication;
    if (
      a.type === 'selfSigned' &&
      [a.primaryThumbprint, a.secondaryThumbprint].some((t) => t === leaf.sha256 || t === leaf.sha1)
    ) {
      candidates.add(r.deviceId);
    }
  }
  for (const id of candidates) {
    const d = authenticateDevice({
      clientId: id,
      username: undefined,
      peerChain: chain,
      record: s.devices.lookup(id),
      inScope: true,
      verifiedCas,
      now: at,
    });
    if (d.ok) return id;
  }
  return undefined;
}

/** Paging is shared with parent gateways' scope servers (src/iothub/scope-page.ts) so a child syncs alike from both. */
function page(
  devices: DeviceRegistry,
  edgeId: string,
  q: URLSearchParams,
  caCertificates: ScopeCa[],
): ScopePage {
  const parsed = parsePageQuery(q);
  if (!parsed.ok) throw httpError(400, 'GH_ERR_INPUT', parsed.message);
  return buildScopePage({
    edgeDeviceId: edgeId,
    records: devices.subtree(edgeId),
    caCertificates,
    query: parsed.query,
  });
}

function scopeCas(cas: CaRegistry): ScopeCa[] {
  return cas.verified().map((v) => ({ name: v.name, certificatePem: v.cert.pem, thumbprint: v.cert.sha256 }));
}

function decodeId(raw: string | undefined): string {
  let id = '';
  try {
    id = decodeURIComponent(raw ?? '');
  } catch {
    // falls through to the refusal below
  }
  if (!isDeviceId(id)) throw httpError(400, 'GH_ERR_INPUT', 'the path does not name a valid device id');
  return id;
}
