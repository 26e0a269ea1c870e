import { join } from 'node:path';
import type { GatewayConfig } from '../config/types.ts';
import type { TlsMaterial } from '../edge-ca/index.ts';
import { RenewalTimer } from '../edge-ca/renewal.ts';
import { EstIdentityManager } from '../est/identity.ts';
import type { Logger } from '../logger.ts';
import type { Identity } from '../upstream/index.ts';
import type { Forwarder } from '../upstream/types.ts';
import { startWorkloadServer, WORKLOAD_SOCKET, type WorkloadServer } from '../workload/server.ts';
import { buildTrustBundle } from '../workload/trust-bundle.ts';
import type { CertificateWatch } from './cert-status.ts';

/**
 * With `[cert_issuance.est]`: makes sure a usable identity exists in DATA/certs before anything reads
 * it (enrolling with the bootstrap certificate on first start). Without EST: nothing to do.
 */
export async function prepareEstIdentity(
  config: GatewayConfig,
  certsDir: string,
  logger: Logger,
  now: () => number,
): Promise<EstIdentityManager | undefined> {
  const est = config.certIssuance.est;
  if (!est) return undefined;
  const manager = new EstIdentityManager({
    est,
    deviceId: config.provisioning.deviceId,
    dir: certsDir,
    log: logger.child({ component: 'est' }),
    now,
  });
  await manager.ensure();
  return manager;
}

/** A forwarder that can switch identity (createUpstream's); injected test forwarders may not. */
type Reloadable = Forwarder & { reloadIdentity?: (identity: Identity) => void };

/**
 * Renews the EST identity at its threshold and hands it to the upstream link, which reconnects with
 * it and keeps its queue. Failures keep the current identity, are retried per `retry` and reported
 * to the watch (metrics, /health). Returns the renew function, for reloads on demand.
 */
export function startIdentityRenewal(o: {
  readonly manager: EstIdentityManager;
  readonly forwarder: Reloadable;
  readonly watch: CertificateWatch;
  readonly log: Logger;
  readonly now: () => number;
}): { readonly timer: RenewalTimer; renew(): Promise<void> } {
  const { manager } = o;
  const current = () => {
    const identity = manager.current();
    if (!identity) throw new Error('unreachable: EST identity missing after enrollment');
    return identity.cred.cert;
  };
  o.watch.watch('identity', current, () => manager.nextRenewalAt());
  let running: Promise<void> = Promise.resolve();
  const renew = (): Promise<void> => {
    // Serialized: two renewals never write the identity files at the same time.
    running = running
      .catch(() => undefined)
      .then(async () => {
        try {
          const next = await manager.renew();
          o.watch.succeeded('identity');
          o.forwarder.reloadIdentity?.({ certPem: next.certPem, keyPem: next.keyPem });
        } catch (err) {
          o.watch.failed('identity', err);
          throw err;
        } finally {
          timer.schedule();
        }
      });
    return running;
  };
  const timer = new RenewalTimer({
    nextAt: () => manager.nextRenewalAt(),
    renew,
    retryMs: () => manager.retryMs(),
    now: o.now,
    log: o.log,
  });
  timer.schedule();
  return { timer, renew };
}

/** The workload API on DATA/workload.sock when `[gateway.workload] enabled`. */
export async function startWorkload(o: {
  readonly config: GatewayConfig;
  readonly material: () => TlsMaterial;
  readonly logger: Logger;
  readonly now: () => number;
}): Promise<WorkloadServer | undefined> {
  const { config } = o;
  const settings = config.gateway.workload;
  if (!settings.enabled) return undefined;
  return startWorkloadServer({
    socketPath: join(config.gateway.dataDir, WORKLOAD_SOCKET),
    policy: { allowedNames: settings.allowedNames, maxDays: settings.certDays },
    edgeCa: () => ({ issuer: o.material().edgeCa.issuer, chain: o.material().edgeCa.chain }),
    trustBundle: () =>
      buildTrustBundle({
        quickstartRootPath: o.material().edgeCa.quickstartRootPath,
        edgeCaCertPath: config.edgeCa.cert,
        edgeCaChain: o.material().edgeCa.chain,
        trustBundleCert: config.trustBundleCert,
      }),
    logger: o.logger,
    now: o.now,
  });
}
