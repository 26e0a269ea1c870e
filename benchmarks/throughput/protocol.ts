import type { DeviceAuthentication, DeviceRecord } from '../../src/registry/device.ts';
import type { BenchIdentity } from '../lib/fixtures.ts';

/** Messages between the throughput runner and its children (over Node IPC; see ../lib/child.ts). */

/** Where an MQTT/TLS peer is and how to trust and authenticate to it. */
export interface TlsPeer {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  readonly caPem: string;
}

/** Gatehouse as the gateway: device broker + upstream link with its durable store. */
export interface GatewayInit {
  readonly host: string;
  readonly serverChainPem: string;
  readonly serverKeyPem: string;
  readonly edgeDeviceId: string;
  readonly records: readonly DeviceRecord[];
  readonly upstream: TlsPeer;
  readonly identityCertPem: string;
  readonly identityKeyPem: string;
  readonly dataDir: string;
}

/** The mock IoT Hub as the far end, with the devices to register (the gateway and its sensors). */
export interface HubInit {
  readonly dataDir: string;
  readonly host: string;
  readonly devices: ReadonlyArray<{
    deviceId: string;
    auth: DeviceAuthentication;
    edge?: boolean;
    parentId?: string;
  }>;
}

export interface LoadInit {
  /** The gateway the sensors connect to (Gatehouse or the Mosquitto edge). */
  readonly edge: TlsPeer;
  readonly sensors: readonly BenchIdentity[];
  /** IoT Hub username form (`{hub}/{id}/?api-version=…`) for Gatehouse; none for Mosquitto. */
  readonly iothubHostname: string | undefined;
  /** QoS 1 publishes each sensor keeps unacknowledged (closed loop). */
  readonly windowPerSensor: number;
  readonly payloadBytes: number;
  /** A subscriber on the far end to time arrivals; absent when the far end is the mock hub. */
  readonly sink: (TlsPeer & { readonly certPem: string; readonly keyPem: string }) | undefined;
}

export interface LoadResult {
  /** PUBACKs the sensors received during the measured window: what the gateway accepted. */
  readonly acked: number;
  /** Messages the sink subscriber received during the window (0 without a sink). */
  readonly delivered: number;
  readonly seconds: number;
  /** End-to-end latency sensor → far end, ms (sink only). */
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
  /** Wall-clock window, ms since epoch, so the hub's own timestamps can be matched to it. */
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly errors: number;
}
