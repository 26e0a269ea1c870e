import type { Socket } from 'node:net';
import { createServer, type SecureContextOptions, type Server, TLSSocket } from 'node:tls';
import type { LimitSettings } from '../config/types.ts';
import { listenOn } from '../listen.ts';
import type { Logger } from '../logger.ts';
import type { CertInfo } from '../pki/index.ts';
import type { BurstLog } from './burst-log.ts';
import type { BrokerMetrics, LimitName } from './metrics.ts';
import { SourceRateLimiter } from './rate-limit.ts';

/** What the listener presents: the server leaf, the Edge CA and its intermediates (PEM), and the key. */
export interface ServerTls {
  readonly certChainPem: string;
  readonly keyPem: string;
}

export interface DeviceListenerOptions {
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  readonly tls: ServerTls;
  /**
   * The verified CAs OpenSSL checks client chains against during the handshake (see verifiedCasOf).
   * Default none: every chain is left to the JavaScript validator at CONNECT.
   */
  readonly trustedCas?: readonly CertInfo[];
  readonly limits: LimitSettings;
  readonly metrics: BrokerMetrics;
  readonly log: Logger;
  readonly burst: BurstLog;
  /** Receives each connection whose TLS handshake completed. */
  readonly onSecureConnection: (socket: TLSSocket) => void;
  readonly now?: () => number;
}

export interface DeviceListener {
  readonly port: number;
  listening(): boolean;
  /** Replaces certificate and key for new handshakes; established connections are untouched. */
  setSecureContext(tls: ServerTls): void;
  /** Replaces the CAs OpenSSL verifies client chains against, for new handshakes. */
  setTrustedCas(cas: readonly CertInfo[]): void;
  /**
   * The CA list a connection's client chain was verified against by OpenSSL in a full handshake of
   * its own (not a resumed session, whose verdict dates from an earlier handshake); undefined when
   * OpenSSL did not verify it, or no CA list was set when its handshake began.
   */
  verifiedCasOf(conn: unknown): readonly CertInfo[] | undefined;
  /** Ends the handshake deadline of a connection (its CONNECT was decided). */
  settle(conn: unknown): void;
  close(): Promise<void>;
}

const kDeadline = Symbol('gatehouse.deadline');
const kRefused = Symbol('gatehouse.refused');
const kTrusted = Symbol('gatehouse.trusted-cas');
type RawSocket = Socket & {
  [kDeadline]?: NodeJS.Timeout | undefined;
  [kRefused]?: boolean;
  [kTrusted]?: readonly CertInfo[] | undefined;
};

const TLS_OPTIONS = { minVersion: 'TLSv1.2' } as const;

/**
 * The device-facing TLS listener. Limits act on the raw TCP socket before any TLS or MQTT work:
 * max connections, a per-source token bucket, and one deadline covering TLS handshake + CONNECT
 * (cleared by settle()). Client certificates are requested but judged only at CONNECT (against the
 * registry), so OpenSSL's verdict never refuses a handshake: `rejectUnauthorized: false`. With the
 * verified CAs as its `ca` list, OpenSSL's verdict (`authorized`) lets the CONNECT decision skip the
 * JavaScript chain walk for CA-signed devices (see verifiedCasOf); thumbprint devices are
 * self-signed, fail that check, and are decided on their leaf as before.
 */
export async function startDeviceListener(opts: DeviceListenerOptions): Promise<DeviceListener> {
  const { limits, metrics, burst, log } = opts;
  const stats = metrics.stats;
  const rate = new SourceRateLimiter({
    ratePerSecond: limits.connectionsPerSecondPerSource,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const sockets = new Set<RawSocket>();
  let deadlines = true;
  let tls = opts.tls;
  // Empty means no `ca` option; Node would then trust its bundled public roots, which must never
  // count as verified, so verifiedCasOf answers undefined for connections made without a list.
  let trusted: readonly CertInfo[] = opts.trustedCas ?? [];
  const contextOptions = (): SecureContextOptions => ({
    ...TLS_OPTIONS,
    cert: tls.certChainPem,
    key: tls.keyPem,
    ...(trusted.length > 0 ? { ca: trusted.map((c) => c.pem) } : {}),
  });
  const server: Server = createServer({
    ...contextOptions(),
    requestCert: true,
    rejectUnauthorized: false,
    // aedes writes CONNACK a few ticks after TLS 1.3 has sent its session tickets; with Nagle on, the
    // CONNACK then waits for the client's delayed ACK of the tickets (~40 ms per connect).
    noDelay: true,
    // Node's own TLS timer is the backstop; the deadline below covers TLS + CONNECT together.
    handshakeTimeout: limits.handshakeTimeoutMs,
  });
  allowPartialChains(server, trusted);

  const refuse = (raw: RawSocket, limit: LimitName, fields: Record<string, unknown>): void => {
    raw[kRefused] = true;
    raw.destroy();
    metrics.limitRefused(limit);
    burst.note(`limit:${limit}`, { limit, ...fields }, `connection refused by limit ${limit}`);
  };
  const onDeadline = (raw: RawSocket): void => {
    raw[kDeadline] = undefined;
    if (raw.destroyed) return;
    refuse(raw, 'handshake-timeout', { remoteAddress: raw.remoteAddress, ms: limits.handshakeTimeoutMs });
  };
  const onRawClose = function (this: RawSocket): void {
    if (this[kDeadline]) clearTimeout(this[kDeadline]);
    this[kDeadline] = undefined;
    sockets.delete(this);
    stats.connectionsOpen--;
  };

  // Runs before tls.Server's own listener, so a refused socket never costs a TLS handshake.
  server.prependListener('connection', (raw: RawSocket) => {
    if (stats.connectionsOpen >= limits.maxConnections) {
      return refuse(raw, 'max-connections', { max: limits.maxConnections });
    }
    const source = raw.remoteAddress ?? 'unknown';
    if (!rate.take(source)) {
      return refuse(raw, 'source-rate', { source, perSecond: limits.connectionsPerSecondPerSource });
    }
    stats.connectionsOpen++;
    sockets.add(raw);
    // tls.Server's own listener (next, same tick) builds the TLSSocket on the current context.
    if (trusted.length > 0) raw[kTrusted] = trusted;
    // `on`, not `once`: 'close' fires once anyway, and once() would wrap the shared handler per socket.
    raw.on('close', onRawClose);
    if (deadlines) {
      raw[kDeadline] = setTimeout(onDeadline, limits.handshakeTimeoutMs, raw);
      raw[kDeadline].unref();
    }
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    stats.handshakesOk++;
    if (deadlines && !parentOf(socket)) {
      // Node no longer exposes the TCP socket: stop arming deadlines that could not be cleared.
      deadlines = false;
      log.error('cannot reach the TCP socket under TLS; handshake deadline falls back to per-phase timeouts');
    }
    opts.onSecureConnection(socket);
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const raw = parentOf(socket);
    if (raw?.[kRefused]) return;
    const reason = err.code ?? 'unknown';
    metrics.handshakeFailed(reason);
    burst.note(`tls:${reason}`, { reason, remoteAddress: socket.remoteAddress }, 'TLS handshake failed');
  });
  await listenOn(server, opts.host, opts.port, 'device listener (MQTT over TLS)');
  // After listen: a listen failure is reported once, by listenOn's error; later ones are logged.
  server.on('error', (err) => log.error({ err }, 'device listener error'));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  let open = true;

  return {
    port,
    listening: () => open && server.listening,
    setSecureContext(next) {
      tls = next;
      server.setSecureContext(contextOptions());
      allowPartialChains(server, trusted);
    },
    setTrustedCas(cas) {
      if (cas === trusted) return;
      trusted = cas;
      server.setSecureContext(contextOptions());
      allowPartialChains(server, trusted);
    },
    verifiedCasOf(conn) {
      if (!(conn instanceof TLSSocket) || conn.authorized !== true || conn.isSessionReused())
        return undefined;
      return parentOf(conn)?.[kTrusted];
    },
    settle(conn) {
      const raw = parentOf(conn as TLSSocket);
      if (raw?.[kDeadline]) {
        clearTimeout(raw[kDeadline]);
        raw[kDeadline] = undefined;
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        open = false;
        server.close(() => resolve());
        for (const raw of sockets) raw.destroy();
      }),
  };
}

/**
 * The TCP socket under a server-side TLSSocket. Node keeps it as `_parent` (not public API, but
 * there since Node 0.11). Should it go, the listener stops arming deadlines and Node's
 * handshakeTimeout plus aedes' connectTimeout bound each phase on their own.
 */
function parentOf(socket: TLSSocket | undefined): RawSocket | undefined {
  const parent = (socket as { _parent?: unknown } | undefined)?._parent;
  return parent && typeof parent === 'object' ? (parent as RawSocket) : undefined;
}

/**
 * Lets OpenSSL end a client chain at any verified CA, self-signed or not (IoT Hub verifies
 * intermediates too; validateChain likewise accepts a path ending at any verified CA). Node 20's
 * tls.Server does not pass `allowPartialTrustChain` on to the context it builds, so it is set on that
 * context (`_sharedCreds`, not public API). Should that go, chains to a non-self-signed CA fail
 * OpenSSL's check and are validated in JavaScript: slower, never a different decision.
 */
function allowPartialChains(server: Server, trusted: readonly CertInfo[]): void {
  if (trusted.length === 0) return;
  type Creds = { context?: { setAllowPartialTrustChain?: () => void } };
  (server as unknown as { _sharedCreds?: Creds })._sharedCreds?.context?.setAllowPartialTrustChain?.();
}
