import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { authenticateDevice } from '../auth/authenticate.ts';
import { sendJson } from '../http-json.ts';
import { SCOPE_ROUTE_ALL, SCOPE_ROUTE_ONE, type ScopeCa, type ScopeOne } from '../iothub/scope-api.ts';
import { buildScopePage, parsePageQuery } from '../iothub/scope-page.ts';
import { listenOn } from '../listen.ts';
import type { Logger } from '../logger.ts';
import type { CertInfo } from '../pki/certificate.ts';
import { FULL_HANDSHAKES_ONLY, peerChainOf } from '../pki/peer-chain.ts';
import type { RegistryCache } from './cache.ts';
import { isDeviceId } from './device.ts';

/**
 * The scope API a parent gateway serves to its child gateways, answered from its own registry cache
 * (which it keeps synced from its own upstream), so a gateway at layer N syncs even when only its
 * parent is reachable. Same paths and types as the hub's (src/iothub/scope-api.ts).
 */
export interface ScopeServerOptions {
  readonly cache: RegistryCache;
  readonly tls: Pick<SecureContextOptions, 'key' | 'cert'>;
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

export interface ScopeServer {
  readonly port: number;
  setSecureContext(tls: Pick<SecureContextOptions, 'key' | 'cert'>): void;
  close(): Promise<void>;
}

export async function startScopeServer(opts: ScopeServerOptions): Promise<ScopeServer> {
  const log = opts.logger.child({ component: 'scope-api' });
  const handle = createScopeHandler(opts.cache, log, opts.now ?? Date.now);
  const server: Server = createServer(
    {
      ...opts.tls,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      // Children are authenticated by their peer chain, which resumed sessions lack.
      ...FULL_HANDSHAKES_ONLY,
    },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        log.error({ err: (err as Error).message }, 'scope request failed');
        sendJson(res, 500, { code: 'GH_ERR_INTERNAL', message: 'internal error' });
      });
    },
  );
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await listenOn(server, opts.host, opts.port, 'scope API');
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : opts.port,
    setSecureContext: (tls) => server.setSecureContext({ ...tls, ...FULL_HANDSHAKES_ONLY }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The request handler, apart from the server so it reads as the decision it is. */
export function createScopeHandler(
  cache: RegistryCache,
  log: Logger,
  now: () => number,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'https://scope.invalid');
    const all = SCOPE_ROUTE_ALL.exec(url.pathname);
    const one = all ? undefined : SCOPE_ROUTE_ONE.exec(url.pathname);
    if (req.method !== 'GET' || (!all && !one))
      return sendJson(res, 404, { code: 'GH_ERR_NOT_FOUND', message: 'no such route' });
    const edgeId = safeDecode((all ?? one)?.[1]);
    if (!edgeId || !isDeviceId(edgeId))
      return sendJson(res, 400, { code: 'GH_ERR_INPUT', message: 'bad edge device id' });

    const refusal = authorizeEdge(cache, req.socket as TLSSocket, edgeId, now());
    if (refusal) {
      log.warn({ deviceId: edgeId, reason: refusal }, 'scope request refused');
      return sendJson(res, 403, {
        code: 'GH_ERR_UNAUTHORIZED',
        message: `scope request refused: ${refusal}`,
      });
    }
    const caCertificates = scopeCas(cache.verifiedCas());
    if (all) {
      const q = parsePageQuery(url.searchParams);
      if (!q.ok) return sendJson(res, 400, { code: 'GH_ERR_INPUT', message: q.message });
      const records = [...cache.records()].filter((r) => cache.mayActFor(edgeId, r.deviceId));
      return sendJson(
        res,
        200,
        buildScopePage({ edgeDeviceId: edgeId, records, caCertificates, query: q.query }),
      );
    }
    const target = url.searchParams.get('targetDeviceId') ?? '';
    if (!isDeviceId(target))
      return sendJson(res, 400, { code: 'GH_ERR_INPUT', message: 'bad targetDeviceId' });
    // lookup() may ask this gateway's own upstream when online; the subtree check below still decides.
    const record = await cache.lookup(target);
    const body: ScopeOne = {
      edgeDeviceId: edgeId,
      device: record && cache.mayActFor(edgeId, target) ? record : null,
      caCertificates,
    };
    return sendJson(res, 200, body);
  };
}

/** The client certificate must authenticate the edge device named in the path, an enabled edge device in scope. */
function authorizeEdge(
  cache: RegistryCache,
  socket: TLSSocket,
  edgeId: string,
  at: number,
): string | undefined {
  const peer = peerChainOf(socket);
  if (!peer.ok) return 'no-client-cert';
  const record = cache.get(edgeId);
  const decision = authenticateDevice({
    clientId: edgeId,
    username: undefined,
    peerChain: peer.chain,
    record,
    inScope: cache.inScope(edgeId),
    verifiedCas: cache.verifiedCas(),
    now: at,
  });
  if (!decision.ok) return decision.reason;
  if (!record?.capabilities.iotEdge) return 'not-an-edge-device';
  return undefined;
}

function scopeCas(cas: readonly CertInfo[]): ScopeCa[] {
  return cas.map((c) => ({
    name: c.subjectCn ?? c.sha256.slice(0, 16),
    certificatePem: c.pem,
    thumbprint: c.sha256,
  }));
}

function safeDecode(segment: string | undefined): string | undefined {
  try {
    return segment === undefined ? undefined : decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
