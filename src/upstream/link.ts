import type { TLSSocket } from 'node:tls';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { GatehouseError } from '../errors.ts';
import { iotHubUsername } from '../iothub/topics.ts';
import type { Logger } from '../logger.ts';
import { assertKeyMatchesCertificate, type CertInfo, parseCertificatesPem } from '../pki/index.ts';
import { type BackoffOptions, backoffDelay } from './backoff.ts';
import { checkIdentityValidity, classifyLinkError, type LinkFailure } from './refusal.ts';
import type { UpstreamState } from './types.ts';

const SILENT_CLOSE_LIMIT = 3;

/** The gateway's identity: certificate (+ chain, leaf first) and private key, PEM. */
export interface Identity {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface LinkOptions {
  readonly deviceId: string;
  readonly iothubHostname: string;
  /** Where to connect (address), and the name the server certificate must carry. */
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  readonly caPem: string;
  readonly identity: Identity;
  readonly backoff: BackoffOptions;
  readonly now: () => number;
  readonly logger: Logger;
  /** MQTT keep-alive. Default 60 s: a dead upstream is noticed within ~90 s. */
  readonly keepaliveSecs?: number;
  /** TLS handshake + CONNACK deadline. Default 10 s. */
  readonly connectTimeoutMs?: number;
}

export interface LinkHandlers {
  /** A CONNACK 0 arrived on `client`; called once per connection. */
  connected(client: MqttClient): void;
  /** The connection that `connected` announced is gone. */
  disconnected(): void;
  message(topic: string, payload: Buffer): void;
}

export interface LinkError extends LinkFailure {
  readonly at: number;
}

/** Parses and checks an identity; throws GH_ERR_PEM / GH_ERR_KEY_MISMATCH without touching the link. */
export function parseIdentity(identity: Identity): CertInfo {
  const chain = parseCertificatesPem(identity.certPem, 'upstream identity certificate');
  const leaf = chain[0];
  if (!leaf) throw new GatehouseError('GH_ERR_PEM', 'upstream identity certificate: no certificate found');
  assertKeyMatchesCertificate(identity.keyPem, leaf, 'upstream identity');
  return leaf;
}

/**
 * The one MQTT connection to the hub or the parent gateway. Each attempt is a fresh mqtt.js client
 * with its own reconnect disabled and clean session: all state that must outlive a connection (the
 * queue, the C2D watch list) is ours and explicit, and is replayed on every CONNACK. mqtt.js's own
 * reconnect would resend its in-memory in-flight copies as well, duplicating what we resend from the
 * durable store.
 */
export class UpstreamLink {
  private readonly options: LinkOptions;
  private readonly handlers: LinkHandlers;
  private readonly log: Logger;
  private identity: Identity;
  private leaf: CertInfo;
  private client: MqttClient | undefined;
  private announced = false;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private current: UpstreamState = 'offline';
  private failure: LinkError | undefined;
  private closed = false;
  private connects = 0;
  /** Connections in a row that the upstream closed after the TLS handshake without a CONNACK. */
  private silentCloses = 0;

  constructor(options: LinkOptions, handlers: LinkHandlers) {
    this.options = options;
    this.handlers = handlers;
    this.log = options.logger;
    this.leaf = parseIdentity(options.identity);
    this.identity = options.identity;
  }

  start(): void {
    if (!this.closed && !this.client && !this.timer) this.connectNow();
  }

  state(): UpstreamState {
    return this.current;
  }

  lastError(): LinkError | undefined {
    return this.failure;
  }

  /** Successful CONNACKs since start. */
  connectCount(): number {
    return this.connects;
  }

  /** The live client while connected, for publishing; undefined otherwise. */
  connectedClient(): MqttClient | undefined {
    return this.current === 'connected' ? this.client : undefined;
  }

  /**
   * Swaps in a new identity and reconnects at once with it (throws, keeping the old one, when it does
   * not parse or the key does not match). Nothing queued is touched.
   */
  reloadIdentity(identity: Identity): void {
    const leaf = parseIdentity(identity);
    this.identity = identity;
    this.leaf = leaf;
    this.log.info(
      { sha256: leaf.sha256, notAfter: new Date(leaf.notAfter).toISOString() },
      'identity reloaded',
    );
    if (this.closed) return;
    this.dropClient();
    this.attempt = 0;
    this.silentCloses = 0;
    this.connectNow();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    const client = this.client;
    this.dropClient();
    this.setState('offline');
    if (client) await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }

  private connectNow(): void {
    this.clearTimer();
    if (this.closed) return;
    const invalid = checkIdentityValidity(this.leaf, this.options.now());
    if (invalid) {
      // Connecting with a certificate we know is out of date only earns a refusal; wait for a reload
      // (or, for a not-yet-valid one, for the clock) instead.
      this.fail(invalid);
      this.scheduleRetry();
      return;
    }
    this.setState('connecting');
    const client = connect(this.clientOptions());
    this.client = client;
    this.announced = false;
    let reported = false;
    let handshook = false;
    client.stream?.once('secureConnect', () => {
      handshook = true;
      // mqtt.js already coalesces the PUBLISHes of one event-loop turn (cork); Nagle would only add
      // delay. tls.connect ignores a noDelay option, so it is set on the connected socket.
      (client.stream as Partial<TLSSocket>).setNoDelay?.(true);
    });
    client.on('connect', () => {
      if (client !== this.client) return;
      this.attempt = 0;
      this.silentCloses = 0;
      this.connects++;
      this.announced = true;
      this.failure = undefined;
      this.setState('connected');
      this.handlers.connected(client);
    });
    client.on('message', (topic, payload) => {
      if (client === this.client) this.handlers.message(topic, payload);
    });
    client.on('error', (err) => {
      if (client !== this.client) return;
      reported = true;
      this.fail(classifyLinkError(err));
    });
    client.on('close', () => {
      if (client !== this.client) return;
      const wasConnected = this.announced;
      this.dropClient();
      if (!reported) this.fail(this.silentClose(wasConnected, handshook));
      this.scheduleRetry();
    });
  }

  /**
   * A close with no error. After a completed TLS handshake but before any CONNACK, this is how a
   * Node-based upstream (a parent gateway) refuses a client certificate under TLS 1.3: it verifies
   * after the handshake and drops the socket without an alert. Once is an outage; SILENT_CLOSE_LIMIT
   * in a row is a refusal.
   */
  private silentClose(wasConnected: boolean, handshook: boolean): LinkFailure {
    if (wasConnected) return { reason: 'unreachable', refused: false, message: 'connection lost' };
    if (!handshook) {
      return { reason: 'unreachable', refused: false, message: 'connection closed during the TLS handshake' };
    }
    this.silentCloses++;
    if (this.silentCloses >= SILENT_CLOSE_LIMIT) {
      return {
        reason: 'tls-refused',
        refused: true,
        message: `upstream closed ${this.silentCloses} connections in a row right after the TLS handshake: it most likely refuses the identity certificate`,
      };
    }
    return { reason: 'unreachable', refused: false, message: 'connection closed before CONNACK' };
  }

  private clientOptions(): IClientOptions {
    const o = this.options;
    return {
      protocol: 'mqtts',
      host: o.host,
      port: o.port,
      // The name verified by Node's default checkServerIdentity; `host` may be an address.
      servername: o.servername,
      ca: o.caPem,
      cert: this.identity.certPem,
      key: this.identity.keyPem,
      rejectUnauthorized: true,
      clientId: o.deviceId,
      username: iotHubUsername(o.iothubHostname, o.deviceId),
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      keepalive: o.keepaliveSecs ?? 60,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
    };
  }

  private fail(failure: LinkFailure): void {
    const previous = this.failure;
    this.failure = { ...failure, at: this.options.now() };
    const next: UpstreamState = failure.refused ? 'refused' : 'offline';
    // One line per change of reason, not per retry: a refused gateway retries for hours.
    if (previous?.reason !== failure.reason || this.current !== next) {
      const fields = { reason: failure.reason, identity: this.leaf.sha256 };
      if (failure.refused) this.log.error(fields, `upstream refused: ${failure.message}`);
      else this.log.warn(fields, `upstream unavailable: ${failure.message}`);
    }
    this.setState(next);
  }

  private scheduleRetry(): void {
    if (this.closed || this.timer) return;
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.log.debug({ delayMs: delay, attempt: this.attempt }, 'upstream reconnect scheduled');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connectNow();
    }, delay);
  }

  private dropClient(): void {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    const wasAnnounced = this.announced;
    this.announced = false;
    client.removeAllListeners('message');
    // Late errors from a client we have let go must not become unhandled 'error' events.
    client.on('error', () => {});
    client.end(true);
    if (wasAnnounced) this.handlers.disconnected();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private setState(next: UpstreamState): void {
    if (this.current === next) return;
    const previous = this.current;
    this.current = next;
    if (next === 'connected') {
      this.log.info({ host: this.options.host, port: this.options.port, previous }, 'upstream connected');
    }
  }
}
