import type { GatewayConfig } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import { type EdgeCa, loadEdgeCa } from './edge-ca.ts';
import { renewalTime } from './lifetime.ts';
import { ensureServerCertificate, type ServerCredential } from './server-cert.ts';

/** Everything the gateway's TLS servers present. */
export interface TlsMaterial {
  readonly edgeCa: EdgeCa;
  readonly server: ServerCredential;
}

export interface LoadTlsMaterialOptions {
  readonly config: GatewayConfig;
  /** Folder for generated certificates (inside the data directory). */
  readonly dir: string;
  readonly now: number;
  readonly log: Logger;
  /** Issue a new server certificate even if the stored one is still good. */
  readonly reissueServer?: boolean;
}

/** Loads (or creates) the Edge CA, then reuses or issues the server certificate for `hostname`. */
export async function loadTlsMaterial(opts: LoadTlsMaterialOptions): Promise<TlsMaterial> {
  const { config } = opts;
  const edgeCa = await loadEdgeCa({
    config: config.edgeCa,
    hostname: config.hostname,
    dir: opts.dir,
    now: opts.now,
    log: opts.log,
  });
  const server = await ensureServerCertificate({
    dir: opts.dir,
    hostname: config.hostname,
    edgeCa,
    days: config.gateway.serverCertDays,
    threshold: config.edgeCa.autoRenew.threshold,
    now: opts.now,
    log: opts.log,
    ...(opts.reissueServer ? { force: true } : {}),
  });
  return { edgeCa, server };
}

/**
 * When the material next needs work: the server certificate's renewal point, or the quickstart Edge
 * CA's (which Gatehouse renews itself; a configured Edge CA is renewed by its operator).
 */
export function nextRenewalAt(material: TlsMaterial, config: GatewayConfig): number {
  const threshold = config.edgeCa.autoRenew.threshold;
  const server = renewalTime(material.server.cert, threshold);
  if (!material.edgeCa.quickstart) return server;
  return Math.min(server, renewalTime(material.edgeCa.issuer.cert, threshold));
}
