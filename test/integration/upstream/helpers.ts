import type { StoreAndForwardSettings } from '../../../src/config/types.ts';
import { type HubHandle, type StoredMessage, startHub } from '../../../src/hub/index.ts';
import { type CreateUpstreamOptions, createUpstream, type Upstream } from '../../../src/upstream/index.ts';
import type { TelemetryMessage } from '../../../src/upstream/types.ts';
import { makeTestPki, type TestCred } from '../../helpers/pki.ts';

export const GATEWAY_ID = 'gw-upstream-test';
export const SENSOR_IDS = ['sensor-a', 'sensor-b', 'sensor-c'] as const;

export const TEST_SETTINGS: StoreAndForwardSettings = Object.freeze({
  timeToLiveSecs: 7200,
  maxBytes: 64 * 1024 * 1024,
  fullPolicy: 'refuse',
  maxC2dPerDevice: 50,
  durability: 'normal',
});

/** The gateway's identity: a self-signed certificate registered at the hub by thumbprint. */
export async function makeIdentity(opts: { days?: number; now?: Date } = {}): Promise<TestCred> {
  const pki = await makeTestPki();
  return pki.selfSigned(GATEWAY_ID, {
    ...(opts.days ? { days: opts.days } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
}

/**
 * Starts the mock hub on `dataDir` (ports 0, or the ones given to come back on the same ports) and,
 * on first start, registers the gateway (edge, thumbprint) and its sensors (children of the gateway).
 */
export async function startTestHub(
  dataDir: string,
  identity: TestCred | undefined,
  ports: { mqttPort?: number; apiPort?: number } = {},
): Promise<HubHandle> {
  const hub = await startHub({
    dataDir,
    mqttPort: ports.mqttPort ?? 0,
    apiPort: ports.apiPort ?? 0,
    hostname: 'localhost',
  });
  if (identity) {
    await hub.admin.addDevice({
      deviceId: GATEWAY_ID,
      auth: { type: 'selfSigned', primaryThumbprint: identity.cert.sha256 },
      edge: true,
    });
    for (const id of SENSOR_IDS) {
      await hub.admin.addDevice({
        deviceId: id,
        auth: { type: 'certificateAuthority' },
        parentId: GATEWAY_ID,
      });
    }
  }
  return hub;
}

export function upstreamFor(
  hub: Pick<HubHandle, 'mqttPort' | 'rootCaPem'>,
  identity: Pick<TestCred, 'chainPem' | 'keyPem'>,
  dataDir: string,
  extra: Partial<CreateUpstreamOptions> = {},
): Upstream {
  return createUpstream({
    settings: TEST_SETTINGS,
    dataDir,
    deviceId: GATEWAY_ID,
    iothubHostname: 'localhost',
    host: '127.0.0.1',
    port: hub.mqttPort,
    servername: 'localhost',
    caPem: hub.rootCaPem,
    certPem: identity.chainPem,
    keyPem: identity.keyPem,
    backoff: { minMs: 50, maxMs: 400 },
    // An attempt that lands on a hub while it stops or starts is retried soon, not after 10 s.
    connectTimeoutMs: 3_000,
    ...extra,
  });
}

export function telemetry(deviceId: string, n: number, props = ''): TelemetryMessage {
  return {
    deviceId,
    connectionDeviceId: deviceId,
    topic: `devices/${deviceId}/messages/events/${props}`,
    payload: Buffer.from(JSON.stringify({ n })),
    qos: 1,
    receivedAt: Date.now(),
  };
}

/** Polls the hub until `count` messages (optionally of one device) are there, or `timeoutMs` passes. */
export async function waitForMessages(
  hub: HubHandle,
  count: number,
  timeoutMs: number,
  deviceId?: string,
): Promise<StoredMessage[]> {
  const deadline = Date.now() + timeoutMs;
  const all: StoredMessage[] = [];
  let after = 0;
  while (Date.now() < deadline) {
    // Bounded: each page is at most 1000 rows and the deadline ends the loop.
    const page = await hub.admin.messages({ after, limit: 1000, ...(deviceId ? { deviceId } : {}) });
    all.push(...page);
    const last = page.at(-1);
    if (last) after = last.seq;
    if (all.length >= count) return all;
    if (page.length < 1000) await new Promise((r) => setTimeout(r, 50));
  }
  return all;
}

/** Every message the hub holds, read page by page until a short page (bounded by `maxPages`). */
export async function readAllMessages(hub: HubHandle, maxPages = 100): Promise<StoredMessage[]> {
  const all: StoredMessage[] = [];
  let after = 0;
  for (let i = 0; i < maxPages; i++) {
    const page = await hub.admin.messages({ after, limit: 1000 });
    all.push(...page);
    const last = page.at(-1);
    if (!last || page.length < 1000) break;
    after = last.seq;
  }
  return all;
}

/**
 * Resolves once `predicate` holds, polling every 20 ms; rejects naming `what` after `timeoutMs`, with
 * the upstream's stats when given, so a failure says what state the link was in.
 */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs: number,
  what: string,
  upstream?: Pick<Upstream, 'stats'>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      const state = upstream ? ` (upstream: ${JSON.stringify(upstream.stats())})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const payloadNumber = (m: StoredMessage): number =>
  (JSON.parse(Buffer.from(m.payload, 'base64').toString('utf8')) as { n: number }).n;
