import type { AuthenticateError, Client, ConnectPacket } from 'aedes';
import { authenticateDevice } from '../auth/authenticate.ts';
import { authorizePublish } from '../auth/authorize.ts';
import { isGatehouseError } from '../errors.ts';
import type { CertInfo } from '../pki/index.ts';
import { type DeviceRecord, isDeviceId } from '../registry/device.ts';
import type { HookContext } from './context.ts';
import { DeviceSession, type GatehouseClient, kConnect, kSession, refusalError } from './session.ts';

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
    // Garbage ids are decided without the registry, so they cannot make the gateway ask upstream.
    const cached = isDeviceId(clientId) ? ctx.registry.get(clientId) : undefined;
    if (cached !== undefined) {
      // The record says which certificates matter, so only those are read (see PeerReaders).
      const caDevice = cached.authentication.type === 'certificateAuthority';
      const mode = !caDevice ? LEAF : tlsVerified(ctx, c) ? VERIFIED_LEAF : CHAIN;
      const chain = readPeer(ctx, c, mode, clientId, done);
      if (chain) decide(ctx, c, packet, username, chain, mode, cached, true, done);
      return;
    }
    const chain = readPeer(ctx, c, LEAF, clientId, done);
    if (!chain) return;
    // Certificate-less clients are refused without the registry, for the same reason.
    if (chain.length === 0 || !isDeviceId(clientId)) {
      return decide(ctx, c, packet, username, chain, LEAF, undefined, false, done);
    }
    ctx.registry.lookup(clientId).then(
      (record) => {
        // Closed while we waited (deadline, takeover): aedes ignores the answer; do nothing.
        if (!c.closed) decide(ctx, c, packet, username, chain, LEAF, record, false, done);
      },
      (err: unknown) => {
        const detail = err instanceof Error ? err.message : String(err);
        if (!c.closed)
          refuseConnect(ctx, c, done, 'registry-unavailable', clientId, chain[0]?.sha256, detail);
      },
    );
  };

  return { preConnect, authenticate };
}

/** What readPeer read: the whole chain, the leaf alone, or the leaf of a chain OpenSSL verified. */
type ReadMode = 0 | 1 | 2;
const CHAIN: ReadMode = 0;
const LEAF: ReadMode = 1;
const VERIFIED_LEAF: ReadMode = 2;

/**
 * Whether OpenSSL verified this connection's chain, in its own full handshake, against exactly the
 * registry's current verified CAs (the listener stamps each connection with the list it used).
 */
function tlsVerified(ctx: HookContext, client: GatehouseClient): boolean {
  const cas = ctx.registry.verifiedCas();
  return cas.length > 0 && ctx.verifiedCasOf(client.conn) === cas;
}

/** The peer's certificates as `mode` says; undefined after refusing (not TLS, unparseable). */
function readPeer(
  ctx: HookContext,
  client: GatehouseClient,
  mode: ReadMode,
  clientId: string,
  done: Done,
): readonly CertInfo[] | undefined {
  const reader = mode === CHAIN ? ctx.peers.chain : mode === LEAF ? ctx.peers.leaf : ctx.peers.verifiedLeaf;
  let chain: readonly CertInfo[] | undefined;
  try {
    chain = reader(client.conn);
  } catch (err) {
    const detail = isGatehouseError(err) ? err.message : 'unreadable certificate';
    refuseConnect(ctx, client, done, 'bad-client-cert', clientId, undefined, detail);
    return undefined;
  }
  if (!chain) refuseConnect(ctx, client, done, 'not-tls', clientId, undefined, 'connection is not TLS');
  return chain;
}

function decide(
  ctx: HookContext,
  client: GatehouseClient,
  packet: ConnectPacket,
  username: string | undefined,
  read: readonly CertInfo[],
  mode: ReadMode,
  record: DeviceRecord | undefined,
  fromCache: boolean,
  done: Done,
): void {
  const clientId = packet.clientId;
  let chain = read;
  let peerChain = read;
  let verified = false;
  if (record?.authentication.type === 'certificateAuthority') {
    // Re-asked here: a refresh may have brought a new CA list since the chain was read.
    verified = tlsVerified(ctx, client);
    if (!verified && mode !== CHAIN) {
      const full = readPeer(ctx, client, CHAIN, clientId, done);
      if (!full) return;
      chain = full;
    }
    // A resumed TLS session presents the leaf alone; CA devices get their intermediates back from memory.
    peerChain = !verified && chain.length === 1 ? ctx.intermediates.complete(chain) : chain;
  }
  const decision = authenticateDevice({
    clientId,
    username,
    peerChain,
    record,
    inScope: record !== undefined && ctx.registry.inScope(clientId),
    verifiedCas: ctx.registry.verifiedCas(),
    now: ctx.now(),
    chainVerifiedByTls: verified,
  });
  if (!decision.ok) {
    if (fromCache && ctx.registry.refresh && STALE_RECORD_REASONS.has(decision.reason)) {
      refreshThenDecide(ctx, client, packet, username, chain, mode, record, done);
      return;
    }
    refuseConnect(ctx, client, done, decision.reason, clientId, decision.thumbprint, decision.detail);
    return;
  }
  if (decision.method === 'ca') {
    if (verified) {
      const sessionChain = verifiedSessionChain(ctx, client, chain, clientId, done);
      if (!sessionChain) return;
      peerChain = sessionChain;
    } else if (chain.length > 1) ctx.intermediates.remember(chain);
  }
  const session = new DeviceSession(
    ctx.registry,
    decision.deviceId,
    decision.method,
    decision.thumbprint,
    peerChain,
    client.clean,
  );
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
      {
        deviceId: session.deviceId,
        method: session.method,
        thumbprint: session.thumbprint,
        chainVerifiedByTls: verified,
      },
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
  mode: ReadMode,
  stale: DeviceRecord | undefined,
  done: Done,
): void {
  const refresh = ctx.registry.refresh;
  if (!refresh) return;
  refresh.call(ctx.registry, packet.clientId).then(
    (fresh) => {
      if (!client.closed) decide(ctx, client, packet, username, chain, mode, fresh, false, done);
    },
    () => {
      if (!client.closed) decide(ctx, client, packet, username, chain, mode, stale, false, done);
    },
  );
}

/**
 * The chain kept on the session of a device whose chain OpenSSL verified, so that a registry change
 * can re-run the decision in JavaScript (registry-change.ts): the leaf completed from remembered
 * intermediates. The first device under an issuer not yet remembered has its whole chain read once.
 * Undefined after refusing (that read failed).
 */
function verifiedSessionChain(
  ctx: HookContext,
  client: GatehouseClient,
  chain: readonly CertInfo[],
  clientId: string,
  done: Done,
): readonly CertInfo[] | undefined {
  const leaf = chain[0];
  if (chain.length !== 1 || !leaf) {
    ctx.intermediates.remember(chain);
    return chain;
  }
  if (!ctx.intermediates.knows(leaf.issuer) && !issuedByVerifiedCa(ctx, leaf)) {
    const full = readPeer(ctx, client, CHAIN, clientId, done);
    if (!full) return undefined;
    ctx.intermediates.remember(full);
  }
  return ctx.intermediates.complete(chain);
}

function issuedByVerifiedCa(ctx: HookContext, leaf: CertInfo): boolean {
  for (const ca of ctx.registry.verifiedCas()) if (ca.subject === leaf.issuer) return true;
  return false;
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
  // Rate-limited per reason (a flood of unknown devices would otherwise cost a log write each);
  // the metric above counts every refusal.
  ctx.refusals.note(
    reason,
    {
      deviceId: deviceId.slice(0, 128) || undefined,
      reason,
      thumbprint,
      detail,
      remoteAddress: (client.conn as { remoteAddress?: string }).remoteAddress,
    },
    'device refused',
  );
  done(refusalError(reason) as unknown as AuthenticateError, false);
}
