import type { AuthenticateError, Client, ConnectPacket } from 'aedes';
import { authenticateDevice } from '../auth/authenticate.ts';
import { authorizePublish } from '../auth/authorize.ts';
import { isGatehouseError } from '../errors.ts';
import type { CertInfo } from '../pki/index.ts';
import { type DeviceRecord, isDeviceId } from '../registry/device.ts';
import type { HookContext } from './context.ts';
import { ConnectRefusedError, DeviceSession, type GatehouseClient, kConnect, kSession } from './session.ts';

type PreConnect = (
  client: Client,
  packet: ConnectPacket,
  cb: (err: Error | null, ok: boolean) => void,
) => void;
type Done = (err: AuthenticateError | null, ok: boolean | null) => void;
type Authenticate = (
  client: Client,
  username: Readonly<string | undefined>,
  password: Readonly<Buffer | undefined>,
  done: Done,
) => void;

/** Refusals a newer record could turn into an acceptance. */
const STALE_RECORD_REASONS: ReadonlySet<string> = new Set([
  'thumbprint-mismatch',
  'untrusted-ca',
  'disabled',
]);

/**
 * Refusal reasons the broker adds to the pure authenticator's (AuthRefusal): not-tls,
 * keepalive-out-of-range, bad-client-cert, will-not-authorized, registry-unavailable.
 */
export type ConnectRefusal =
  | 'not-tls'
  | 'keepalive-out-of-range'
  | 'bad-client-cert'
  | 'will-not-authorized'
  | 'registry-unavailable';

/**
 * aedes CONNECT hooks. preConnect keeps a reference to the CONNECT packet (aedes hands authenticate
 * only username and password); authenticate adapts authenticateDevice() and fails closed: every path
 * that is not an explicit acceptance answers CONNACK 5 and logs one line. The accepting path with a
 * cached record is synchronous and allocates no closure.
 */
export function createConnectHooks(ctx: HookContext): { preConnect: PreConnect; authenticate: Authenticate } {
  const preConnect: PreConnect = (client, packet, cb) => {
    (client as GatehouseClient)[kConnect] = packet;
    cb(null, true);
  };

  const authenticate: Authenticate = (client, username, _password, done) => {
    const c = client as GatehouseClient;
    const packet = c[kConnect];
    c[kConnect] = undefined;
    if (!packet) return refuseConnect(ctx, c, done, 'bad-client-id', '', undefined, 'CONNECT packet missing');
    const clientId = packet.clientId;
    const keepalive = packet.keepalive ?? 0;
    const { keepaliveMinSecs, keepaliveMaxSecs } = ctx.limits;
    if (keepalive < keepaliveMinSecs || keepalive > keepaliveMaxSecs) {
      ctx.metrics.limitRefused('keepalive');
      const detail = `keep-alive ${keepalive} s outside ${keepaliveMinSecs}–${keepaliveMaxSecs} s`;
      return refuseConnect(ctx, c, done, 'keepalive-out-of-range', clientId, undefined, detail);
    }
    let chain: readonly CertInfo[] | undefined;
    try {
      chain = ctx.peerChainOf(c.conn);
    } catch (err) {
      const detail = isGatehouseError(err) ? err.message : 'unreadable certificate';
      return refuseConnect(ctx, c, done, 'bad-client-cert', clientId, undefined, detail);
    }
    if (!chain) return refuseConnect(ctx, c, done, 'not-tls', clientId, undefined, 'connection is not TLS');
    // Garbage ids and certificate-less clients are decided without the registry, so they cannot
    // make the gateway ask upstream about anything.
    if (chain.length === 0 || !isDeviceId(clientId)) {
      return decide(ctx, c, packet, username, chain, undefined, false, done);
    }
    const cached = ctx.registry.get(clientId);
    if (cached !== undefined) return decide(ctx, c, packet, username, chain, cached, true, done);
    const found = chain;
    ctx.registry.lookup(clientId).then(
      (record) => {
        // Closed while we waited (deadline, takeover): aedes ignores the answer; do nothing.
        if (!c.closed) decide(ctx, c, packet, username, found, record, false, done);
      },
      (err: unknown) => {
        const detail = err instanceof Error ? err.message : String(err);
        if (!c.closed)
          refuseConnect(ctx, c, done, 'registry-unavailable', clientId, found[0]?.sha256, detail);
      },
    );
  };

  return { preConnect, authenticate };
}

function decide(
  ctx: HookContext,
  client: GatehouseClient,
  packet: ConnectPacket,
  username: string | undefined,
  chain: readonly CertInfo[],
  record: DeviceRecord | undefined,
  fromCache: boolean,
  done: Done,
): void {
  const clientId = packet.clientId;
  const caDevice = record?.authentication.type === 'certificateAuthority';
  // A resumed TLS session presents the leaf alone; CA devices get their intermediates back from memory.
  const peerChain = caDevice && chain.length === 1 ? ctx.intermediates.complete(chain) : chain;
  const decision = authenticateDevice({
    clientId,
    username,
    peerChain,
    record,
    inScope: record !== undefined && ctx.registry.inScope(clientId),
    verifiedCas: ctx.registry.verifiedCas(),
    now: ctx.now(),
  });
  if (!decision.ok) {
    if (fromCache && ctx.registry.refresh && STALE_RECORD_REASONS.has(decision.reason)) {
      refreshThenDecide(ctx, client, packet, username, chain, record, done);
      return;
    }
    refuseConnect(ctx, client, done, decision.reason, clientId, decision.thumbprint, decision.detail);
    return;
  }
  const session = new DeviceSession(
    ctx.registry,
    decision.deviceId,
    decision.method,
    decision.thumbprint,
    peerChain,
    client.clean,
  );
  if (decision.method === 'ca' && chain.length > 1) ctx.intermediates.remember(chain);
  const will = packet.will;
  if (will) {
    // A will is a publish made later on the device's behalf: it must pass the same rules now.
    if ((will.qos ?? 0) > 1 || !authorizePublish(will.topic, session).ok) {
      const detail = `will topic "${will.topic.slice(0, 200)}" (QoS ${will.qos}) is not telemetry this device may send`;
      refuseConnect(ctx, client, done, 'will-not-authorized', clientId, decision.thumbprint, detail);
      return;
    }
    // Telemetry is never retained (IoT Hub semantics), wills included. aedes keeps this same object.
    will.retain = false;
  }
  client[kSession] = session;
  ctx.c2d.sessionStarted(session);
  ctx.metrics.stats.authAccepted++;
  ctx.settle(client.conn);
  if (ctx.log.isLevelEnabled('debug')) {
    ctx.log.debug(
      { deviceId: session.deviceId, method: session.method, thumbprint: session.thumbprint },
      'device connected',
    );
  }
  done(null, true);
}

/**
 * The cached record may predate a change at the hub (rotated thumbprint, newly verified CA,
 * re-enabled device): ask once; the registry cache rate-limits these per device.
 */
function refreshThenDecide(
  ctx: HookContext,
  client: GatehouseClient,
  packet: ConnectPacket,
  username: string | undefined,
  chain: readonly CertInfo[],
  stale: DeviceRecord | undefined,
  done: Done,
): void {
  const refresh = ctx.registry.refresh;
  if (!refresh) return;
  refresh.call(ctx.registry, packet.clientId).then(
    (fresh) => {
      if (!client.closed) decide(ctx, client, packet, username, chain, fresh, false, done);
    },
    () => {
      if (!client.closed) decide(ctx, client, packet, username, chain, stale, false, done);
    },
  );
}

function refuseConnect(
  ctx: HookContext,
  client: GatehouseClient,
  done: Done,
  reason: string,
  deviceId: string,
  thumbprint: string | undefined,
  detail: string,
): void {
  ctx.settle(client.conn);
  ctx.metrics.authRefused(reason);
  ctx.log.warn(
    {
      deviceId: deviceId.slice(0, 128) || undefined,
      reason,
      thumbprint,
      detail,
      remoteAddress: (client.conn as { remoteAddress?: string }).remoteAddress,
    },
    'device refused',
  );
  done(new ConnectRefusedError(reason) as unknown as AuthenticateError, false);
}
