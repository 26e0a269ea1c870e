import { join } from 'node:path';
import type { GatewayConfig } from '../config/types.ts';
import { renewalTime, type TlsMaterial } from '../edge-ca/index.ts';
import { EstIdentityManager } from '../est/identity.ts';
import type { Logger } from '../logger.ts';
import type { CertInfo } from '../pki/index.ts';
import { startWorkloadServer, WORKLOAD_SOCKET, type WorkloadServer } from '../workload/server.ts';
import { buildTrustBundle } from '../workload/trust-bundle.ts';
import type { CertificateWatch, WatchedCertificate } from './cert-status.ts';

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

/**
 * The upstream PEMs with `certPem`/`keyPem` read from the EST identity in use, so clients that read
 * them per connection (the scope client) follow renewals; without EST, the material as read.
 */
export function withLiveIdentity<T extends { readonly certPem: string; readonly keyPem: string }>(
  material: T,
  est: EstIdentityManager | undefined,
): T {
  if (!est) return material;
  return {
    ...material,
    get certPem() {
      return est.current()?.certPem ?? material.certPem;
    },
    get keyPem() {
      return est.current()?.keyPem ?? material.keyPem;
    },
  };
}

/** The server certificate (and a quickstart Edge CA, which Gatehouse renews) in metrics and /health. */
export function watchTlsCertificates(
  watch: CertificateWatch,
  material: () => TlsMaterial,
  config: GatewayConfig,
): void {
  const threshold = config.edgeCa.autoRenew.threshold;
  const server = () => material().server.cert;
  watch.watch('server', server, () => renewalTime(server(), threshold));
  if (!material().edgeCa.quickstart) return;
  const edgeCa = () => material().edgeCa.issuer.cert;
  watch.watch('edge_ca', edgeCa, () => renewalTime(edgeCa(), threshold));
}

/**
 * Feeds a server-certificate reload's outcome to the watch (metrics and /health): a failure counts
 * against each watched TLS certificate that was due (the server certificate when none was: a reload
 * asked for early), a success clears them.
 */
export function reportTlsRenewal(
  watch: CertificateWatch,
  config: GatewayConfig,
  now: () => number,
): (inUse: TlsMaterial, err?: unknown) => void {
  const threshold = config.edgeCa.autoRenew.threshold;
  return (inUse, err) => {
    const certs: Array<[WatchedCertificate, CertInfo]> = [['server', inUse.server.cert]];
    if (inUse.edgeCa.quickstart) certs.push(['edge_ca', inUse.edgeCa.issuer.cert]);
    if (err === undefined) {
      for (const [name] of certs) watch.succeeded(name);
      return;
    }
    const due = certs.filter(([, cert]) => renewalTime(cert, threshold) <= now());
    for (const [name] of due.length > 0 ? due : certs.slice(0, 1)) watch.failed(name, err);
  };
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
