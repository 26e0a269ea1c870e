import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import type { LimitSettings } from '../config/types.ts';
import { parseC2dFilter } from '../iothub/topics.ts';
import type { Logger } from '../logger.ts';
import type { CertInfo } from '../pki/index.ts';
import type { C2dMessage, Forwarder } from '../upstream/types.ts';
import { createConnectHooks } from './auth-hooks.ts';
import { BurstLog } from './burst-log.ts';
import { C2dRouter } from './c2d.ts';
import type { HookContext } from './context.ts';
import { createBrokerEmitter } from './emitter.ts';
import { IntermediateMemory } from './intermediates.ts';
import type { BrokerMetrics } from './metrics.ts';
import { limitPacketSize, PacketTooLargeError } from './packet-limit.ts';
import { type PeerChainReader, peerReaders } from './peer-chain.ts';
import { createBrokerPersistence } from './persistence.ts';
import { applyRegistryChange } from './registry-change.ts';
import { type GatehouseClient, sessionOf } from './session.ts';
import { createTopicHooks } from './topic-hooks.ts';
import type { BrokerRegistry } from './types.ts';

export interface DeviceBrokerOptions {
  readonly registry: BrokerRegistry;
  readonly forwarder: Forwarder;
  /** The broker's logger; a child with component "broker" is taken from it. */
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
  readonly limits: LimitSettings;
  /** C2D messages kept per device while its persistent session is offline. Default 50. */
  readonly maxOfflineC2dPerDevice?: number;
  /** Clock for certificate validity. Default Date.now. */
  readonly now?: () => number;
  /** How the client chain is read from a connection. Default: TLS peer chain (non-TLS refused). */
  readonly peerChainOf?: PeerChainReader;
  /** Called when a connection's CONNECT decision is made (the listener stops its deadline). */
  readonly settle?: (conn: unknown) => void;
  /** The CA list OpenSSL verified a connection's chain against (the listener's verifiedCasOf). Default: none. */
  readonly verifiedCasOf?: (conn: unknown) => readonly CertInfo[] | undefined;
}

/** Refusal lines: up to this many per reason per window one by one, then one summary per window. */
const REFUSALS_PER_WINDOW = 20;
const REFUSAL_WINDOW_MS = 1000;

/** aedes wired to Gatehouse's hooks, registry and forwarder; no sockets (the listener feeds it). */
export interface DeviceBroker {
  /** Hands an accepted connection to aedes. Returns false (and destroys it) if it cannot be bounded. */
  handle(conn: Duplex): boolean;
  /** Live authenticated connections. */
  connectedCount(): number;
  readonly c2d: C2dRouter;
  close(): Promise<void>;
}

export async function createDeviceBroker(opts: DeviceBrokerOptions): Promise<DeviceBroker> {
  const log = opts.logger.child({ component: 'broker' });
  const burst = new BurstLog(log);
  const { registry, forwarder, metrics, limits } = opts;
  // aedes is created after the router, which needs its publish: bound through this slot.
  let aedes: Aedes | undefined;
  const c2d = new C2dRouter({
    forwarder,
    publish: (m) => publishC2d(aedes, m, log),
    maxOfflinePerDevice: opts.maxOfflineC2dPerDevice ?? 50,
    metrics,
    burst,
    log,
  });
  const ctx: HookContext = {
    registry,
    forwarder,
    metrics,
    log,
    burst,
    limits,
    c2d,
    now: opts.now ?? Date.now,
    peers: peerReaders(opts.peerChainOf),
    verifiedCasOf: opts.verifiedCasOf ?? (() => undefined),
    refusals: new BurstLog(log, REFUSAL_WINDOW_MS, REFUSALS_PER_WINDOW),
    intermediates: new IntermediateMemory(),
    settle: opts.settle ?? (() => {}),
  };
  const brokerId = randomUUID();
  const broker = await Aedes.createBroker({
    ...createConnectHooks(ctx),
    ...createTopicHooks(ctx),
    // A backstop: the listener's handshake deadline normally ends a silent connection first.
    connectTimeout: limits.handshakeTimeoutMs,
    maxClientsIdLength: 128,
    // aedes' memory persistence, without its per-CONNECT iterator streams (see persistence.ts).
    persistence: createBrokerPersistence(),
    id: brokerId,
    mq: createBrokerEmitter(brokerId),
  });
  aedes = broker;

  broker.on('clientDisconnect', (client) => {
    const session = sessionOf(client);
    if (session) c2d.sessionEnded(session);
  });
  broker.on('unsubscribe', (topics, client) => {
    const session = sessionOf(client);
    // Unsubscribes aedes makes while closing a connection are handled by clientDisconnect.
    if (!session || client.closed) return;
    for (const topic of topics) {
      const target = parseC2dFilter(topic);
      if (target) c2d.unwatch(session, target);
    }
  });
  const onClientError = (client: Client, err: Error): void => {
    if (err instanceof PacketTooLargeError) {
      metrics.limitRefused('packet-size');
      burst.note(
        'limit:packet-size',
        { deviceId: client.id ?? undefined, detail: err.message },
        'packet too large; connection closed',
      );
      return;
    }
    // Refusals were logged where they were decided; other client errors are routine network noise.
    if (log.isLevelEnabled('debug'))
      log.debug({ deviceId: client.id ?? undefined, err: err.message }, 'client error');
  };
  broker.on('clientError', onClientError);
  broker.on('connectionError', onClientError);
  // aedes emits 'error' for persistence failures; without a listener that would crash the process.
  (broker as EventEmitter).on('error', (err: unknown) => log.error({ err }, 'broker error'));

  const clients = (): Record<string, GatehouseClient | undefined> =>
    (broker as unknown as { clients: Record<string, GatehouseClient | undefined> }).clients;
  // Neither collaborator can unregister a listener, so both go quiet once the broker is closed.
  forwarder.onC2d((m) => (broker.closed ? false : c2d.deliver(m)));
  registry.onChange((change) => {
    if (!broker.closed) applyRegistryChange(ctx, clients(), change);
  });

  return {
    c2d,
    handle(conn) {
      const client = broker.handle(conn);
      if (!limitPacketSize(client, limits.maxPacketBytes)) {
        log.error('aedes client internals changed: cannot bound packet size; refusing connection');
        conn.destroy();
        return false;
      }
      return true;
    },
    connectedCount: () => Object.keys(clients()).length,
    close: () =>
      new Promise<void>((resolve) => {
        burst.close();
        ctx.refusals.close();
        broker.close(() => resolve());
      }),
  };
}

function publishC2d(aedes: Aedes | undefined, m: C2dMessage, log: Logger): void {
  aedes?.publish(
    { cmd: 'publish', topic: m.topic, payload: m.payload, qos: 1, retain: false, dup: false },
    (err) => {
      if (err) log.error({ err, deviceId: m.deviceId }, 'C2D publish into the broker failed');
    },
  );
}
