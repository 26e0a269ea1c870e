import type { GatewayConfig } from '../config/types.ts';
import { RenewalTimer } from '../edge-ca/renewal.ts';
import { GatehouseError } from '../errors.ts';
import type { EstClientAuth } from '../est/client.ts';
import { EstEdgeCaManager } from '../est/edge-ca.ts';
import type { EstIdentityManager } from '../est/identity.ts';
import type { Logger } from '../logger.ts';
import { type CertInfo, readTextFile } from '../pki/index.ts';
import type { Identity } from '../upstream/index.ts';
import type { Forwarder } from '../upstream/types.ts';
import type { CertificateWatch, WatchedCertificate } from './cert-status.ts';

export interface Renewal {
  /** Renews now; resolves the new certificate, rejects (keeping the old one) on failure. */
  renew(): Promise<CertInfo>;
  close(): void;
}

/**
 * A certificate renewed at its renewal point and retried after failures: renewals are serialized
 * (two never write the same files at once), reported to the watch, and rescheduled after each try.
 */
function startRenewalLoop(o: {
  readonly name: WatchedCertificate;
  readonly current: () => CertInfo;
  readonly nextAt: () => number;
  readonly retryMs: () => number;
  /** Renews and installs the new certificate; resolves it. */
  readonly renewOnce: () => Promise<CertInfo>;
  readonly watch: CertificateWatch;
  readonly log: Logger;
  readonly now: () => number;
}): Renewal {
  o.watch.watch(o.name, o.current, o.nextAt);
  let running: Promise<unknown> = Promise.resolve();
  const renew = (): Promise<CertInfo> => {
    const run = running
      .catch(() => undefined)
      .then(async () => {
        try {
          const cert = await o.renewOnce();
          o.watch.succeeded(o.name);
          return cert;
        } catch (err) {
          o.watch.failed(o.name, err);
          throw err;
        } finally {
          timer.schedule();
        }
      });
    running = run;
    return run;
  };
  const timer = new RenewalTimer({
    nextAt: o.nextAt,
    renew: async () => {
      await renew();
    },
    retryMs: o.retryMs,
    now: o.now,
    log: o.log,
  });
  timer.schedule();
  return { renew, close: () => timer.close() };
}

const notConfigured = (what: string): Renewal => ({
  renew: () => Promise.reject(new GatehouseError('GH_ERR_CONFIG', `no ${what} configured`)),
  close: () => undefined,
});

/** A forwarder that can switch identity (createUpstream's); injected test forwarders may not. */
type Reloadable = Forwarder & { reloadIdentity?: (identity: Identity) => void };

/**
 * Renews the EST identity at its threshold and hands it to the upstream link, which reconnects with
 * it and keeps its queue. Without EST, renew() refuses.
 */
export function startIdentityRenewal(o: {
  readonly manager: EstIdentityManager | undefined;
  readonly forwarder: Reloadable;
  readonly watch: CertificateWatch;
  readonly log: Logger;
  readonly now: () => number;
}): Renewal {
  const { manager } = o;
  if (!manager) return notConfigured('[cert_issuance.est]');
  return startRenewalLoop({
    name: 'identity',
    current: () => {
      const identity = manager.current();
      if (!identity) throw new Error('unreachable: EST identity missing after enrollment');
      return identity.cred.cert;
    },
    nextAt: () => manager.nextRenewalAt(),
    retryMs: () => manager.retryMs(),
    renewOnce: async () => {
      const next = await manager.renew();
      o.forwarder.reloadIdentity?.({ certPem: next.certPem, keyPem: next.keyPem });
      return next.cred.cert;
    },
    watch: o.watch,
    log: o.log,
    now: o.now,
  });
}

/**
 * `[edge_ca] method = "est"`: enrolls the Edge CA before the TLS material is loaded (loadEdgeCa then
 * reads it from the data directory like configured files). Requests are authenticated with the
 * gateway's identity: the EST one when EST manages it, else the configured files.
 */
export async function prepareEstEdgeCa(
  config: GatewayConfig,
  certsDir: string,
  logger: Logger,
  now: () => number,
  identity: EstIdentityManager | undefined,
): Promise<EstEdgeCaManager | undefined> {
  const est = config.certIssuance.est;
  if (!config.edgeCa.est || !est) return undefined;
  const auth = async (): Promise<EstClientAuth> => {
    const current = identity?.current();
    if (current) return { certPem: current.certPem, keyPem: current.keyPem };
    return {
      certPem: await readTextFile(config.provisioning.identityCert, 'identity certificate'),
      keyPem: await readTextFile(config.provisioning.identityPk, 'identity key'),
    };
  };
  const manager = new EstEdgeCaManager({
    est,
    deviceId: config.provisioning.deviceId,
    dir: certsDir,
    autoRenew: config.edgeCa.autoRenew,
    auth,
    log: logger.child({ component: 'est' }),
    now,
  });
  await manager.ensure();
  return manager;
}

/**
 * Renews the EST Edge CA at `[edge_ca.auto_renew] threshold`, then reloads the TLS material so a
 * server certificate from the new Edge CA is swapped in (established connections stay).
 */
export function startEdgeCaRenewal(o: {
  readonly manager: EstEdgeCaManager | undefined;
  readonly reload: () => Promise<CertInfo>;
  readonly watch: CertificateWatch;
  readonly log: Logger;
  readonly now: () => number;
}): Renewal {
  const { manager } = o;
  if (!manager) return notConfigured('[edge_ca] method = "est"');
  return startRenewalLoop({
    name: 'edge_ca',
    current: () => {
      const cred = manager.current();
      if (!cred) throw new Error('unreachable: EST Edge CA missing after enrollment');
      return cred.cert;
    },
    nextAt: () => manager.nextRenewalAt(),
    retryMs: () => manager.retryMs(),
    renewOnce: async () => {
      const next = await manager.renew();
      await o.reload();
      return next.cert;
    },
    watch: o.watch,
    log: o.log,
    now: o.now,
  });
}
