import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { LimitSettings } from '../config/types.ts';
import { listenOn } from '../listen.ts';
import type { Logger } from '../logger.ts';
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
  /** Ends the handshake deadline of a connection (its CONNECT was decided). */
  settle(conn: unknown): void;
  close(): Promise<void>;
}

const kDeadline = Symbol('gatehouse.deadline');
const kRefused = Symbol('gatehouse.refused');
type RawSocket = Socket & { [kDeadline]?: NodeJS.Timeout | undefined; [kRefused]?: boolean };

const TLS_OPTIONS = { minVersion: 'TLSv1.2' } as const;

/**
 * The device-facing TLS listener. Limits act on the raw TCP socket before any TLS or MQTT work:
 * max connections, a per-source token bucket, and one deadline covering TLS handshake + CONNECT
 * (cleared by settle()). Client certificates are requested but judged only at CONNECT (against the
 * registry), so OpenSSL's own verdict is ignored: `rejectUnauthorized: false`.
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
  const server: Server = createServer({
    ...TLS_OPTIONS,
    cert: opts.tls.certChainPem,
    key: opts.tls.keyPem,
    requestCert: true,
    rejectUnauthorized: false,
    // aedes writes CONNACK a few ticks after TLS 1.3 has sent its session tickets; with Nagle on, the
    // CONNACK then waits for the client's delayed ACK of the tickets (~40 ms per connect).
    noDelay: true,
    // Node's own TLS timer is the backstop; the deadline below covers TLS + CONNECT together.
    handshakeTimeout: limits.handshakeTimeoutMs,
  });

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
    setSecureContext(tls) {
      server.setSecureContext({ ...TLS_OPTIONS, cert: tls.certChainPem, key: tls.keyPem });
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
