import { Agent } from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { GatehouseError } from '../errors.ts';
import { httpsExchange } from '../https-exchange.ts';
import {
  DEFAULT_SCOPE_PAGE_SIZE,
  SCOPE_ROUTE_ALL,
  type ScopeOne,
  type ScopePage,
  scopePaths,
} from '../iothub/scope-api.ts';
import { clip, validateScopeOne, validateScopePage } from './scope-response.ts';
import type { ScopeSource } from './types.ts';

export interface ScopeClientOptions {
  /** Where to connect (upstream_address). */
  readonly host: string;
  readonly port: number;
  /** The name the server certificate must carry (parent_hostname or iothub_hostname; DNS or IP). */
  readonly servername: string;
  readonly edgeDeviceId: string;
  /** PEM of the trust bundle: the only roots the server chain may lead to. */
  readonly caPem: string;
  /** PEM of the gateway's identity certificate chain (leaf first). */
  readonly certPem: string;
  readonly keyPem: string;
  /** Whole-request deadline (connect, TLS, response body), ms. Default 15000. */
  readonly timeoutMs?: number;
  /** Largest response body read, bytes. Default 16 MiB (a full page with many CAs fits). */
  readonly maxBodyBytes?: number;
  /** Records per page asked for. Default DEFAULT_SCOPE_PAGE_SIZE. */
  readonly pageSize?: number;
}

/** Peer errors that mean the server's certificate was refused (rather than the network failing). */
const CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME/;

/**
 * The scope API client: HTTPS with mutual TLS (the gateway's identity certificate), the server
 * verified against the trust bundle and `servername` (DNS name or IP). Every answer is validated
 * before it is returned; continuation links are followed only on the same server and path.
 */
export function createScopeClient(opts: ScopeClientOptions): ScopeSource & { close(): void } {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const maxBodyBytes = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  // Keep-alive reuses one TLS session across the pages of a sync; idle sockets do not hold the process.
  const agent = new Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 1, timeout: timeoutMs });
  const firstPage = `${scopePaths.all(opts.edgeDeviceId)}?pageSize=${opts.pageSize ?? DEFAULT_SCOPE_PAGE_SIZE}`;

  const getJson = async (path: string): Promise<unknown> => {
    const res = await httpsExchange(
      {
        agent,
        host: opts.host,
        port: opts.port,
        path,
        method: 'GET',
        headers: { accept: 'application/json' },
        ca: opts.caPem,
        cert: opts.certPem,
        key: opts.keyPem,
        minVersion: 'TLSv1.2',
        // SNI carries DNS names only; the certificate check always uses the configured name.
        ...(isIP(opts.servername) === 0 ? { servername: opts.servername } : {}),
        checkServerIdentity: (_host: string, cert: PeerCertificate) =>
          checkServerIdentity(opts.servername, cert),
      },
      undefined,
      { what: `scope API ${where()}`, timeoutMs, maxBodyBytes, onError: unreachable },
    );
    const text = res.body.toString('utf8');
    if (res.status !== 200) throw statusError(res.status, text);
    try {
      return JSON.parse(text);
    } catch (err) {
      throw protocol('response is not JSON', err);
    }
  };

  const where = (): string => `${opts.host}:${opts.port}`;

  const unreachable = (err: Error): GatehouseError => {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (CERT_ERROR.test(code)) {
      return new GatehouseError(
        'GH_ERR_CHAIN',
        `scope API ${where()}: server certificate refused (${code}: ${err.message})`,
        {
          cause: err,
        },
      );
    }
    return new GatehouseError('GH_ERR_UNREACHABLE', `scope API ${where()}: ${err.message}`, { cause: err });
  };

  const protocol = (message: string, cause?: unknown): GatehouseError =>
    new GatehouseError('GH_ERR_PROTOCOL', `scope API ${where()}: ${message}`, cause ? { cause } : undefined);

  const statusError = (status: number, body: string): GatehouseError => {
    let detail = '';
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === 'string') detail = `: ${clip(parsed.message, 200)}`;
    } catch {
      // A non-JSON error body is not worth quoting.
    }
    const code = status === 401 || status === 403 ? 'GH_ERR_UNAUTHORIZED' : 'GH_ERR_PROTOCOL';
    return new GatehouseError(code, `scope API ${where()}: HTTP ${status}${detail}`, { details: { status } });
  };

  return {
    async fetchPage(continuation: string | null): Promise<ScopePage> {
      const path = continuation === null ? firstPage : continuationPath(continuation, opts.edgeDeviceId);
      return validateScopePage(await getJson(path), opts.edgeDeviceId);
    },
    async fetchOne(deviceId: string): Promise<ScopeOne> {
      return validateScopeOne(
        await getJson(scopePaths.one(opts.edgeDeviceId, deviceId)),
        opts.edgeDeviceId,
        deviceId,
      );
    },
    close() {
      agent.destroy();
    },
  };
}

/**
 * A continuation link must be a relative path+query to this edge device's scope route: a hostile or
 * confused server cannot send the client (and its client certificate) anywhere else.
 */
export function continuationPath(link: string, edgeDeviceId: string): string {
  const base = 'https://upstream.invalid';
  let url: URL;
  try {
    url = new URL(link, base);
  } catch {
    throw new GatehouseError('GH_ERR_PROTOCOL', 'scope page: continuationLink is not a URL path');
  }
  const route = SCOPE_ROUTE_ALL.exec(url.pathname);
  let edge: string | undefined;
  try {
    edge = route?.[1] === undefined ? undefined : decodeURIComponent(route[1]);
  } catch {
    edge = undefined;
  }
  if (url.origin !== base || !link.startsWith('/') || link.startsWith('//') || edge !== edgeDeviceId) {
    throw new GatehouseError(
      'GH_ERR_PROTOCOL',
      `scope page: continuationLink "${clip(link)}" leaves this scope`,
    );
  }
  return `${url.pathname}${url.search}`;
}
