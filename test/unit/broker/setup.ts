import type { Duplex } from 'node:stream';
import { createDeviceBroker, type DeviceBroker } from '../../../src/broker/device-broker.ts';
import { type BrokerMetrics, createBrokerMetrics } from '../../../src/broker/metrics.ts';
import type { LimitSettings } from '../../../src/config/types.ts';
import { createLogger } from '../../../src/logger.ts';
import type { CertInfo } from '../../../src/pki/index.ts';
import { duplexPair, FakeForwarder, FakeRegistry, TestMqttClient } from './fakes.ts';

export const DEFAULT_LIMITS: LimitSettings = {
  handshakeTimeoutMs: 10_000,
  maxConnections: 10_000,
  connectionsPerSecondPerSource: 50,
  maxPacketBytes: 262_144,
  keepaliveMinSecs: 0,
  keepaliveMaxSecs: 1177,
};

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino sink the test reads back. */
export function logSink(): { lines: LogLine[]; write(s: string): void } {
  const lines: LogLine[] = [];
  return { lines, write: (s: string) => lines.push(JSON.parse(s) as LogLine) };
}

export interface Harness {
  readonly registry: FakeRegistry;
  readonly forwarder: FakeForwarder;
  readonly metrics: BrokerMetrics;
  readonly broker: DeviceBroker;
  readonly logs: LogLine[];
  /** Opens an in-memory connection whose "TLS peer" presented `chain` (undefined = not TLS). */
  open(chain: readonly CertInfo[] | undefined): TestMqttClient;
  /** open() + CONNECT; resolves with the CONNACK return code (undefined when none came). */
  connect(
    chain: readonly CertInfo[] | undefined,
    connect: Record<string, unknown>,
  ): Promise<{ client: TestMqttClient; returnCode: number | undefined }>;
  close(): Promise<void>;
}

export async function makeHarness(
  opts: { limits?: Partial<LimitSettings>; maxOfflineC2d?: number } = {},
): Promise<Harness> {
  const registry = new FakeRegistry();
  const forwarder = new FakeForwarder();
  const metrics = createBrokerMetrics({ processMetrics: false });
  const sink = logSink();
  const chains = new WeakMap<object, readonly CertInfo[] | undefined>();
  const broker = await createDeviceBroker({
    registry,
    forwarder,
    metrics,
    logger: createLogger({ destination: sink, level: 'info' }),
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    ...(opts.maxOfflineC2d !== undefined ? { maxOfflineC2dPerDevice: opts.maxOfflineC2d } : {}),
    peerChainOf: (conn) => chains.get(conn as object),
  });
  const clients: TestMqttClient[] = [];
  const open = (chain: readonly CertInfo[] | undefined): TestMqttClient => {
    const [server, device] = duplexPair();
    chains.set(server, chain);
    broker.handle(server as Duplex);
    const client = new TestMqttClient(device);
    clients.push(client);
    return client;
  };
  return {
    registry,
    forwarder,
    metrics,
    broker,
    logs: sink.lines,
    open,
    async connect(chain, connect) {
      const client = open(chain);
      client.send({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        ...connect,
      });
      const connack = await client.waitFor((p) => p.cmd === 'connack');
      return { client, returnCode: connack?.cmd === 'connack' ? connack.returnCode : undefined };
    },
    async close() {
      for (const c of clients) c.end();
      await broker.close();
    },
  };
}
