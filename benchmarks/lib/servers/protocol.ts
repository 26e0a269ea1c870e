import type { DeviceRecord } from '../../../src/registry/device.ts';

/**
 * What the benchmark driver sends each server child in its `init` message. Children answer
 * `ready {port}`, then serve `gc` (collect garbage if started with --expose-gc, answer with facts),
 * `stats` (answer `served`: TLS connections completed) and `close` (answer `closed`, then exit so
 * --cpu-prof can write its profile).
 */
export interface BareServerInit {
  readonly host: string;
  readonly keyPem: string;
  /** Leaf + intermediates, as presented to clients. */
  readonly certChainPem: string;
  /** Accepted client certificate SHA-256 thumbprints, openssl form (AB:CD:…). */
  readonly thumbprints: readonly string[];
  /** When set: CA mode — accept clients whose chain OpenSSL verified against these anchors. */
  readonly caPem?: string;
}

export interface GatehouseServerInit {
  readonly host: string;
  readonly dataDir: string;
  /** The certificate the baselines present, stored for the gateway to reuse. */
  readonly serverChainPem: string;
  readonly serverKeyPem: string;
  /** Gateway config.toml, read by the gateway's own loadConfig (files checked as in production). */
  readonly configPath: string;
  /** Registry contents, served to the gateway's real registry cache by an in-process scope source. */
  readonly records: readonly DeviceRecord[];
  /** CA certificates treated as uploaded and verified by proof of possession. */
  readonly verifiedCaPem: string;
  readonly edgeDeviceId: string;
}
