import type { LimitSettings } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import type { CertInfo } from '../pki/index.ts';
import type { Forwarder } from '../upstream/types.ts';
import type { BurstLog } from './burst-log.ts';
import type { C2dRouter } from './c2d.ts';
import type { IntermediateMemory } from './intermediates.ts';
import type { BrokerMetrics } from './metrics.ts';
import type { PeerReaders } from './peer-chain.ts';
import type { BrokerRegistry } from './types.ts';

/** Everything the aedes hooks need, built once per broker (hooks close over this, not over connections). */
export interface HookContext {
  readonly registry: BrokerRegistry;
  readonly forwarder: Forwarder;
  readonly metrics: BrokerMetrics;
  /** The broker's child logger (component: broker). */
  readonly log: Logger;
  readonly burst: BurstLog;
  readonly limits: LimitSettings;
  readonly c2d: C2dRouter;
  readonly now: () => number;
  readonly peers: PeerReaders;
  /**
   * The CA list OpenSSL verified this connection's client chain against in its own full handshake
   * (the listener's verifiedCasOf), or undefined. Compared by identity with registry.verifiedCas().
   */
  readonly verifiedCasOf: (conn: unknown) => readonly CertInfo[] | undefined;
  /** Refusal log lines, rate-limited per reason. */
  readonly refusals: BurstLog;
  /** Intermediates from accepted chains, for resumed sessions that restore only the leaf. */
  readonly intermediates: IntermediateMemory;
  /** Called once the CONNECT decision is made, to stop the handshake deadline of that connection. */
  readonly settle: (conn: unknown) => void;
}
