import type { StoreAndForwardSettings } from '../config/types.ts';
import { GatehouseError } from '../errors.ts';
import { type Logger, silentLogger } from '../logger.ts';
import { parseCertificatesPem } from '../pki/index.ts';
import { isDeviceId } from '../registry/device.ts';
import { type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts';
import { BestEffort } from './best-effort.ts';
import { type C2dHandler, C2dRouter } from './c2d.ts';
import { type Identity, type LinkError, UpstreamLink } from './link.ts';
import { withMessageId } from './message-id.ts';
import type { LinkFailureReason } from './refusal.ts';
import { Sender } from './sender.ts';
import { MessageStore, type StoreDurability } from './store.ts';
import type { Forwarder, TelemetryMessage, UpstreamState } from './types.ts';

export type { BackoffOptions } from './backoff.ts';
export type { C2dHandler } from './c2d.ts';
export type { Identity } from './link.ts';
export { MESSAGE_ID_PROPERTY } from './message-id.ts';
export type { LinkFailureReason } from './refusal.ts';
export { STORE_FILE, type StoreDurability } from './store.ts';

export interface CreateUpstreamOptions {
  readonly settings: StoreAndForwardSettings;
  /** The gateway's data directory; the store lives in `DIR/store.db`. */
  readonly dataDir: string;
  /** This gateway's device id at the hub: MQTT client id and username. */
  readonly deviceId: string;
  /** The hub's hostname, used in the username (also behind a parent gateway). */
  readonly iothubHostname: string;
  /** Address to connect to (the hub, or parent_hostname), and its port. */
  readonly host: string;
  readonly port: number;
  /** Name the upstream's server certificate must carry (checked by Node's checkServerIdentity). */
  readonly servername: string;
  /** trust_bundle_cert: root(s) the upstream's chain must lead to. */
  readonly caPem: string;
  /** Identity certificate (+ chain, leaf first) and its private key. */
  readonly certPem: string;
  readonly keyPem: string;
  readonly logger?: Logger;
  /** Reconnect delays; default 1 s → 60 s. */
  readonly backoff?: BackoffOptions;
  /** Clock (ms since epoch) for TTL and certificate validity. Default Date.now. */
  readonly now?: () => number;
  /** Default `normal` (survives kill -9, not power loss); `full` fsyncs every group commit. */
  readonly durability?: StoreDurability;
  /** Unacknowledged QoS 1 publishes upstream. Default 100. */
  readonly inflightWindow?: number;
  /** MQTT keep-alive upstream, default 60 s; connect (TLS + CONNACK) timeout, default 10 s. */
  readonly keepaliveSecs?: number;
  readonly connectTimeoutMs?: number;
  /** How often expired messages are swept from the store while they wait. Default 60 s. */
  readonly sweepIntervalMs?: number;
}

/** What the metrics module reads; counters are totals since start, gauges are current. */
export interface UpstreamStats {
  readonly state: UpstreamState;
  /** Messages waiting in the durable store (including those in flight) and their bytes. */
  readonly queued: number;
  readonly queuedBytes: number;
  readonly inflight: number;
  readonly enqueued: number;
  /** QoS 1 messages the upstream acknowledged. */
  readonly sent: number;
  readonly expired: number;
  /** Evicted by full_policy = "drop-oldest". */
  readonly dropped: number;
  /** Enqueues refused because the store was full. */
  readonly refused: number;
  /** Set aside after the upstream closed the connection on them POISON_STRIKES times in a row. */
  readonly rejected: number;
  readonly bestEffortSent: number;
  readonly bestEffortDropped: number;
  readonly c2dWatched: number;
  readonly c2dReceived: number;
  readonly c2dHeld: number;
  readonly c2dDropped: number;
  /** Successful upstream connections since start. */
  readonly connects: number;
  readonly lastError:
    | { readonly reason: LinkFailureReason; readonly message: string; readonly at: number }
    | undefined;
}

export interface Upstream extends Forwarder {
  /** Reconnects with a new identity (e.g. after renewal); queued messages are kept and then sent. */
  reloadIdentity(identity: Identity): void;
  stats(): UpstreamStats;
  /** Offers C2D messages held for an offline device to the handler again (see C2dHandler). */
  redeliverC2d(deviceId: string): void;
  lastError(): LinkError | undefined;
}

/**
 * The upstream link with its durable store-and-forward queue and C2D fan-in. Connects at once and keeps
 * reconnecting until `close()`; enqueue works whatever the link's state.
 */
export function createUpstream(options: CreateUpstreamOptions): Upstream {
  if (!isDeviceId(options.deviceId)) {
    throw new GatehouseError('GH_ERR_INPUT', `upstream: "${options.deviceId}" is not a valid device id`);
  }
  parseCertificatesPem(options.caPem, 'upstream trust bundle');
  const log = (options.logger ?? silentLogger()).child({ component: 'upstream' });
  const now = options.now ?? Date.now;
  const store = new MessageStore({
    dir: options.dataDir,
    settings: options.settings,
    now,
    logger: log,
    ...(options.durability ? { durability: options.durability } : {}),
  });
  const sender = new Sender({ store, logger: log, ...windowOption(options.inflightWindow) });
  const c2d = new C2dRouter({ maxPerDevice: options.settings.maxC2dPerDevice, logger: log });
  const bestEffort = new BestEffort();
  let link: UpstreamLink;
  try {
    link = new UpstreamLink(
      {
        deviceId: options.deviceId,
        iothubHostname: options.iothubHostname,
        host: options.host,
        port: options.port,
        servername: options.servername,
        caPem: options.caPem,
        identity: { certPem: options.certPem, keyPem: options.keyPem },
        backoff: options.backoff ?? DEFAULT_BACKOFF,
        now,
        logger: log,
        ...(options.keepaliveSecs !== undefined ? { keepaliveSecs: options.keepaliveSecs } : {}),
        ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      },
      {
        connected: (client) => {
          c2d.attach(client);
          sender.attach(client);
        },
        disconnected: () => {
          sender.detach();
          c2d.detach();
        },
        message: (topic, payload) => c2d.receive(topic, payload),
      },
    );
  } catch (err) {
    store.close();
    throw err;
  }
  const sweep = setInterval(() => store.sweepExpired(), options.sweepIntervalMs ?? 60_000);
  sweep.unref();
  let closed = false;
  link.start();

  return {
    enqueue(message: TelemetryMessage): Promise<void> {
      return store.add(message.deviceId, withMessageId(message.topic), message.payload);
    },
    forwardBestEffort(message: TelemetryMessage): void {
      bestEffort.forward(link.connectedClient(), message);
    },
    watchC2d: (deviceId) => c2d.watch(deviceId),
    unwatchC2d: (deviceId) => c2d.unwatch(deviceId),
    onC2d: (handler: C2dHandler) => c2d.setHandler(handler),
    redeliverC2d: (deviceId) => c2d.redeliver(deviceId),
    state: () => link.state(),
    lastError: () => link.lastError(),
    reloadIdentity: (identity) => link.reloadIdentity(identity),
    stats(): UpstreamStats {
      const s = store.counters();
      const c = c2d.counts();
      const e = link.lastError();
      return {
        state: link.state(),
        queued: s.queued,
        queuedBytes: s.bytes,
        inflight: sender.inFlightCount(),
        enqueued: s.enqueued,
        sent: sender.sentCount(),
        expired: s.expired,
        dropped: s.dropped,
        refused: s.refused,
        rejected: s.rejected,
        bestEffortSent: bestEffort.sent,
        bestEffortDropped: bestEffort.dropped,
        c2dWatched: c.watched,
        c2dReceived: c.received,
        c2dHeld: c.held,
        c2dDropped: c.dropped,
        connects: link.connectCount(),
        lastError: e ? { reason: e.reason, message: e.message, at: e.at } : undefined,
      };
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      await link.close();
      store.close();
    },
  };
}

function windowOption(window: number | undefined): { window?: number } {
  return window === undefined ? {} : { window };
}
