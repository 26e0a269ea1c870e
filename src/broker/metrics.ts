import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/**
 * Plain counters bumped on the success path. prom-client hashes label sets on every inc(), so the
 * hot path only adds to numbers here; the exported metrics read them when scraped.
 */
export interface BrokerStats {
  connectionsOpen: number;
  handshakesOk: number;
  authAccepted: number;
  telemetryQos0: number;
  telemetryQos1: number;
  c2dOut: number;
}

export type LimitName = 'max-connections' | 'source-rate' | 'handshake-timeout' | 'packet-size' | 'keepalive';

/** The broker's metrics, in their own Registry (never prom-client's global one). */
export interface BrokerMetrics {
  readonly registry: Registry;
  readonly stats: BrokerStats;
  handshakeFailed(reason: string): void;
  authRefused(reason: string): void;
  limitRefused(limit: LimitName): void;
  publishRefused(reason: string): void;
  subscribeRefused(reason: string): void;
  c2dDropped(reason: string): void;
}

export interface CreateBrokerMetricsOptions {
  /** Also export Node process metrics (CPU, memory, event loop lag). Default true. */
  readonly processMetrics?: boolean;
}

// TLS error codes come from the peer's behaviour; anything odd is folded so labels stay bounded.
const LABEL_SAFE = /^[A-Za-z0-9_.-]{1,64}$/;
const label = (value: string): string => (LABEL_SAFE.test(value) ? value : 'other');

export function createBrokerMetrics(opts: CreateBrokerMetricsOptions = {}): BrokerMetrics {
  const registry = new Registry();
  const registers = [registry];
  const stats: BrokerStats = {
    connectionsOpen: 0,
    handshakesOk: 0,
    authAccepted: 0,
    telemetryQos0: 0,
    telemetryQos1: 0,
    c2dOut: 0,
  };
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });

  new Gauge({
    name: 'gatehouse_connections_open',
    help: 'TCP connections currently open on the device listener (handshaking or connected)',
    registers,
    collect() {
      this.set(stats.connectionsOpen);
    },
  });
  syncedCounter(
    registry,
    'gatehouse_tls_handshakes_ok_total',
    'Completed TLS handshakes',
    () => stats.handshakesOk,
  );
  const handshakeFailures = new Counter({
    name: 'gatehouse_tls_handshake_failures_total',
    help: 'TLS handshakes that failed, by reason (OpenSSL / Node error code)',
    labelNames: ['reason'],
    registers,
  });
  syncedCounter(
    registry,
    'gatehouse_auth_accepted_total',
    'Devices authenticated at CONNECT',
    () => stats.authAccepted,
  );
  const authRefusals = new Counter({
    name: 'gatehouse_auth_refusals_total',
    help: 'CONNECTs refused with "not authorized", by reason',
    labelNames: ['reason'],
    registers,
  });
  const limitRefusals = new Counter({
    name: 'gatehouse_limit_refusals_total',
    help: 'Connections or packets refused by a [gateway.limits] limit',
    labelNames: ['limit'],
    registers,
  });
  const reportedIn = [0, 0];
  new Counter({
    name: 'gatehouse_messages_in_total',
    help: 'Telemetry messages accepted from devices',
    labelNames: ['qos'],
    registers,
    collect() {
      syncLabelled(this, { qos: '0' }, stats.telemetryQos0, reportedIn, 0);
      syncLabelled(this, { qos: '1' }, stats.telemetryQos1, reportedIn, 1);
    },
  });
  syncedCounter(
    registry,
    'gatehouse_messages_out_total',
    'Cloud-to-device messages delivered to devices',
    () => stats.c2dOut,
  );
  const publishRefusals = new Counter({
    name: 'gatehouse_publish_refusals_total',
    help: 'PUBLISH packets refused (the connection is closed), by reason',
    labelNames: ['reason'],
    registers,
  });
  const subscribeRefusals = new Counter({
    name: 'gatehouse_subscribe_refusals_total',
    help: 'Subscriptions refused (SUBACK 0x80), by reason',
    labelNames: ['reason'],
    registers,
  });
  const c2dDropped = new Counter({
    name: 'gatehouse_c2d_dropped_total',
    help: 'Cloud-to-device messages not delivered, by reason',
    labelNames: ['reason'],
    registers,
  });

  return {
    registry,
    stats,
    handshakeFailed: (reason) => handshakeFailures.inc({ reason: label(reason) }),
    authRefused: (reason) => authRefusals.inc({ reason: label(reason) }),
    limitRefused: (limit) => limitRefusals.inc({ limit }),
    publishRefused: (reason) => publishRefusals.inc({ reason: label(reason) }),
    subscribeRefused: (reason) => subscribeRefusals.inc({ reason: label(reason) }),
    c2dDropped: (reason) => c2dDropped.inc({ reason: label(reason) }),
  };
}

/** A counter whose value is a plain number kept elsewhere; scraping adds what was counted since. */
function syncedCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  let reported = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const value = read();
      if (value > reported) this.inc(value - reported);
      reported = value;
    },
  });
}

function syncLabelled(
  counter: Counter<string>,
  labels: Record<string, string>,
  value: number,
  reported: number[],
  slot: number,
): void {
  const before = reported[slot] ?? 0;
  if (value > before) counter.inc(labels, value - before);
  reported[slot] = value;
}
