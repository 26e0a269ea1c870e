import type { LimitSettings } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import type { Forwarder } from '../upstream/types.ts';
import { BurstLog } from './burst-log.ts';
import { createDeviceBroker, type DeviceBroker } from './device-broker.ts';
import { type Health, healthOf } from './health.ts';
import { type DeviceListener, type ServerTls, startDeviceListener } from './listener.ts';
import { type BrokerMetrics, createBrokerMetrics } from './metrics.ts';
import type { PeerChainReader } from './peer-chain.ts';
import type { BrokerRegistry } from './types.ts';

export interface StartBrokerOptions {
  readonly registry: BrokerRegistry;
  readonly forwarder: Forwarder;
  readonly logger: Logger;
  readonly limits: LimitSettings;
  readonly tls: ServerTls;
  /** Listen address, e.g. "0.0.0.0". */
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  /** Default: a fresh set in its own Registry. */
  readonly metrics?: BrokerMetrics;
  /** C2D messages kept per offline persistent-session device. Default 50. */
  readonly maxOfflineC2dPerDevice?: number;
  readonly now?: () => number;
  /** Tests only: how the client chain is read (default: from the TLS socket). */
  readonly peerChainOf?: PeerChainReader;
}

/** The running device broker: TLS listener + aedes + Gatehouse hooks. */
export interface BrokerHandle {
  readonly port: number;
  readonly metrics: BrokerMetrics;
  readonly device: DeviceBroker;
  setSecureContext(tls: ServerTls): void;
  listening(): boolean;
  health(): Health;
  close(): Promise<void>;
}

export async function startBroker(opts: StartBrokerOptions): Promise<BrokerHandle> {
  const metrics = opts.metrics ?? createBrokerMetrics();
  const log = opts.logger.child({ component: 'listener' });
  const burst = new BurstLog(log);
  let listener: DeviceListener | undefined;
  const device = await createDeviceBroker({
    registry: opts.registry,
    forwarder: opts.forwarder,
    logger: opts.logger,
    metrics,
    limits: opts.limits,
    ...(opts.maxOfflineC2dPerDevice !== undefined
      ? { maxOfflineC2dPerDevice: opts.maxOfflineC2dPerDevice }
      : {}),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.peerChainOf ? { peerChainOf: opts.peerChainOf } : {}),
    settle: (conn) => listener?.settle(conn),
    verifiedCasOf: (conn) => listener?.verifiedCasOf(conn),
  });
  try {
    listener = await startDeviceListener({
      host: opts.host,
      port: opts.port,
      tls: opts.tls,
      // OpenSSL checks CA-signed devices' chains against the verified CAs during the handshake.
      trustedCas: opts.registry.verifiedCas(),
      limits: opts.limits,
      metrics,
      log,
      burst,
      onSecureConnection: (socket) => device.handle(socket),
      ...(opts.now ? { now: opts.now } : {}),
    });
  } catch (err) {
    await device.close();
    throw err;
  }
  const started = listener;
  opts.registry.onChange((change) => {
    if (change.casChanged && started.listening()) started.setTrustedCas(opts.registry.verifiedCas());
  });
  return {
    port: started.port,
    metrics,
    device,
    setSecureContext: (tls) => started.setSecureContext(tls),
    listening: () => started.listening(),
    health: () => healthOf(started.listening(), opts.registry.status(), opts.forwarder.state()),
    async close() {
      burst.close();
      await started.close();
      await device.close();
    },
  };
}
