import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { GatehouseError, toGatehouseError } from '../errors.ts';
import { httpError, readJsonBody, sendError, sendJson, statusOf } from '../http-json.ts';
import { listenOn } from '../listen.ts';
import type { Logger } from '../logger.ts';
import { FULL_HANDSHAKES_ONLY } from '../pki/peer-chain.ts';
import type { AdminRequest, ApiResult } from './admin-routes.ts';
import { ADMIN_PREFIX, MAX_BODY_BYTES } from './api-schemas.ts';
// EST (certificate lifecycle): routes live in est-routes.ts; only mounted here.
import { type EstHandler, isEstPath } from './est-routes.ts';
import { isScopePath, type ScopeRequest } from './scope-routes.ts';

export interface ApiServerOptions {
  readonly host: string;
  readonly port: number;
  readonly keyPem: string;
  readonly certChainPem: string;
  readonly token: string;
  readonly admin: (req: AdminRequest) => Promise<ApiResult>;
  readonly scope: (req: ScopeRequest) => ApiResult;
  /** RFC 7030 EST under /.well-known/est (answers with PKCS#7, not JSON). */
  readonly est?: EstHandler;
  readonly logger: Logger;
}

export interface ApiServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * One HTTPS port for both APIs. Admin routes (under ADMIN_PREFIX) need the bearer token; scope routes
 * need the edge device's client certificate, so the handshake requests one from everybody and each
 * route decides.
 */
export async function startApiServer(o: ApiServerOptions): Promise<ApiServer> {
  const log = o.logger;
  const tokenDigest = digest(o.token);
  const server: Server = createServer(
    {
      key: o.keyPem,
      cert: o.certChainPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      // Scope and EST routes authenticate by the peer chain, which resumed sessions lack.
      ...FULL_HANDSHAKES_ONLY,
    },
    (req, res) => {
      handle(req, res).catch((err: unknown) => fail(res, err));
    },
  );
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'API TLS handshake failed'));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const method = req.method ?? 'GET';
    let result: ApiResult;
    if (path.startsWith(`${ADMIN_PREFIX}/`)) {
      if (!bearerMatches(req.headers.authorization, tokenDigest)) {
        log.warn({ method, path: path.slice(0, 200) }, 'admin request without a valid token');
        throw httpError(401, 'GH_ERR_UNAUTHORIZED', 'missing or wrong admin token');
      }
      result = await o.admin({
        method,
        path: path.slice(ADMIN_PREFIX.length),
        query,
        body: () => readJsonBody(req, MAX_BODY_BYTES),
      });
    } else if (isScopePath(path)) {
      result = o.scope({ method, path, query, socket: req.socket });
    } else if (o.est && isEstPath(path)) {
      // EST mount (lifecycle): the handler writes its own non-JSON answer; errors fall to fail() below.
      await o.est(req, res, path);
      return;
    } else {
      throw httpError(404, 'GH_ERR_NOT_FOUND', `no such route: ${path.slice(0, 200)}`);
    }
    sendJson(res, result.status, result.body);
  }

  function fail(res: ServerResponse, err: unknown): void {
    const ge = err instanceof GatehouseError ? err : toGatehouseError(err);
    const status = statusOf(ge);
    if (status >= 500) log.error({ err }, 'API request failed');
    const headers: Record<string, string> = {};
    if (status === 401) headers['www-authenticate'] = 'Bearer';
    // The rest of an oversize body is not read: close rather than leave it in the pipe.
    if (status === 413) headers.connection = 'close';
    if (status >= 500) {
      sendError(res, new GatehouseError(ge.code, 'internal error; see the hub log'), headers);
      return;
    }
    sendError(res, ge, headers);
  }

  await listenOn(server, o.host, o.port, 'API');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant-time comparison (of digests, so the lengths always agree). */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer ([^\s]+)$/i.exec(header ?? '');
  return m?.[1] !== undefined && timingSafeEqual(digest(m[1]), expected);
}
