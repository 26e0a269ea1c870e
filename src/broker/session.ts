import type { Client, ConnectPacket } from 'aedes';
import type { AuthMethod } from '../auth/authenticate.ts';
import type { Actor } from '../auth/authorize.ts';
import type { CertInfo } from '../pki/index.ts';
import type { BrokerRegistry } from './types.ts';

export const kSession = Symbol('gatehouse.session');
export const kConnect = Symbol('gatehouse.connect');

/**
 * An aedes client with the two slots Gatehouse hangs on it: the CONNECT packet from preConnect until
 * authenticate (aedes hands authenticate only username and password), then the session.
 */
export type GatehouseClient = Client & {
  [kSession]?: DeviceSession;
  [kConnect]?: ConnectPacket | undefined;
};

/**
 * One authenticated connection: who it is, how it proved it, and what it may act for. It is the
 * Actor handed to the topic authorization functions; mayActFor is a prototype method (no closure
 * per connection) and asks the registry live, so a device removed from an edge's subtree stops
 * being usable through that edge at the next sync.
 */
export class DeviceSession implements Actor {
  readonly deviceId: string;
  readonly method: AuthMethod;
  readonly thumbprint: string;
  /** Kept so the decision can be re-run when the device's record changes. */
  readonly peerChain: readonly CertInfo[];
  readonly clean: boolean;
  /** False once the connection has closed. */
  live = true;
  /** Set when the registry disabled or removed the device: nothing more is accepted from it. */
  revoked = false;
  readonly #registry: BrokerRegistry;

  constructor(
    registry: BrokerRegistry,
    deviceId: string,
    method: AuthMethod,
    thumbprint: string,
    peerChain: readonly CertInfo[],
    clean: boolean,
  ) {
    this.#registry = registry;
    this.deviceId = deviceId;
    this.method = method;
    this.thumbprint = thumbprint;
    this.peerChain = peerChain;
    this.clean = clean;
  }

  mayActFor(targetId: string): boolean {
    return this.#registry.mayActFor(this.deviceId, targetId);
  }
}

export function sessionOf(client: Client | null | undefined): DeviceSession | undefined {
  return client ? (client as GatehouseClient)[kSession] : undefined;
}

/** The refusal aedes turns into CONNACK return code 5 ("not authorized"). */
export class ConnectRefusedError extends Error {
  readonly returnCode = 5;
  readonly reason: string;

  constructor(reason: string) {
    super(`not authorized (${reason})`);
    this.name = 'ConnectRefusedError';
    this.reason = reason;
  }
}

const refusalErrors = new Map<string, ConnectRefusedError>();

/**
 * One shared error per refusal reason (a bounded set of codes): constructing one per refused
 * CONNECT captured a stack trace each time. aedes only reads it (and sets errorCode = 5 on it).
 */
export function refusalError(reason: string): ConnectRefusedError {
  let err = refusalErrors.get(reason);
  if (!err) {
    err = new ConnectRefusedError(reason);
    refusalErrors.set(reason, err);
  }
  return err;
}
