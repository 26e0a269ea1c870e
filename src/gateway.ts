import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  addGatewayGauges,
  type BrokerHandle,
  type BrokerMetrics,
  type BrokerRegistry,
  type Health,
  type MetricsServer,
  startBroker,
  startMetricsServer,
  type UpstreamTotals,
} from './broker/index.ts';
import type { GatewayConfig } from './config/types.ts';
import { loadTlsMaterial, startCertificateRenewal } from './edge-ca/index.ts';
import {
  createOwnForwarder,
  createOwnRegistry,
  startOwnScopeServer,
  type UpstreamMaterial,
  upstreamMaterial,
} from './gateway-parts.ts';
import { CertificateWatch, withCertificateHealth } from './lifecycle/cert-status.ts';
import { prepareEstEdgeCa, startEdgeCaRenewal, startIdentityRenewal } from './lifecycle/est-renewal.ts';
import { reloadManualIdentity } from './lifecycle/identity-reload.ts';
import {
  prepareEstIdentity,
  reportTlsRenewal,
  startWorkload,
  watchTlsCertificates,
  withLiveIdentity,
} from './lifecycle/wiring.ts';
import type { Logger } from './logger.ts';
import type { CertInfo } from './pki/index.ts';
import type { RegistryCache } from './registry/index.ts';
import type { Forwarder } from './upstream/types.ts';

/** A registry the gateway can run on: the broker's needs, plus the cache's extras when present. */
export type GatewayRegistry = BrokerRegistry & Partial<Pick<RegistryCache, 'records' | 'syncNow' | 'close'>>;

export interface CreateGatewayOptions {
  readonly config: GatewayConfig;
  /** The root logger; components take children of it. */
  readonly logger: Logger;
  /** Injected upstream (tests, benchmarks); the caller closes it. Default: createUpstream to hub or parent. */
  readonly forwarder?: Forwarder;
  /** Injected registry (tests, benchmarks); the caller closes it. Default: a registry cache synced upstream. */
  readonly registry?: GatewayRegistry;
  /** Clock for certificates and authentication. Default Date.now. */
  readonly now?: () => number;
}

export interface Gateway {
  /** The device listener's port (MQTT over TLS). */
  readonly port: number;
  /** `/metrics` + `/health` port, when `metrics_listen` is set. */
  readonly metricsPort: number | undefined;
  /** The scope API served to child gateways, when the registry is a full cache. */
  readonly scopeApiPort: number | undefined;
  readonly registry: GatewayRegistry;
  readonly forwarder: Forwarder;
  readonly metrics: BrokerMetrics;
  serverCertificate(): CertInfo;
  edgeCa(): {
    readonly cert: CertInfo;
    readonly quickstart: boolean;
    readonly quickstartRootPath: string | undefined;
  };
  health(): Health;
  /** The identity certificate enrolled over EST, when `[cert_issuance.est]` is set. */
  identityCertificate(): CertInfo | undefined;
  /** Renews the EST identity now (the upstream reconnects with it); rejects, keeping the old one, on failure. */
  renewIdentity(): Promise<CertInfo>;
  /** Renews the EST Edge CA now (`[edge_ca] method = "est"`) and swaps in a server certificate from it. */
  renewEdgeCa(): Promise<CertInfo>;
  /** The workload API's unix socket, when `[gateway.workload] enabled`. */
  readonly workloadSocket: string | undefined;
  /**
   * Reloads the Edge CA (re-reading configured files), reuses or reissues the server certificate and
   * swaps it into the listeners; established connections are kept. Resolves the certificate now served.
   */
  reloadSecureContext(opts?: { readonly reissue?: boolean }): Promise<CertInfo>;
  /**
   * Re-reads a manually configured identity certificate and key (not with EST, which renews its
   * own) and reconnects upstream with it; queued messages are kept. Resolves whether it changed.
   */
  reloadIdentity(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The composition root: Edge CA + server certificate, registry cache, upstream link, device broker,
 * scope API for child gateways, metrics, certificate renewal. Everything started here is closed by
 * close(); injected collaborators are left to their owner.
 */
export async function createGateway(opts: CreateGatewayOptions): Promise<Gateway> {
  const { config } = opts;
  const now = opts.now ?? Date.now;
  const log = opts.logger.child({ component: 'gateway' });
  const settings = config.gateway;
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        log.error({ err }, 'error while closing');
      }
    }
  };

  try {
    await mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
    const certsDir = join(settings.dataDir, 'certs');
    // Lifecycle: EST enrollment precedes reading the identity and Edge CA files; the watch feeds metrics and /health.
    const watch = new CertificateWatch(now);
    const injected = opts.registry !== undefined && opts.forwarder !== undefined;
    const est = injected ? undefined : await prepareEstIdentity(config, certsDir, opts.logger, now);
    const estEdgeCa = await prepareEstEdgeCa(config, certsDir, opts.logger, now, est);
    const material = await loadTlsMaterial({ config, dir: certsDir, now: now(), log });

    // Identity and trust files are read only when the gateway creates its own upstream clients.
    let pems: UpstreamMaterial | undefined;
    const upstream = async (): Promise<UpstreamMaterial> => {
      pems ??= withLiveIdentity(await upstreamMaterial(config), est);
      return pems;
    };
    const registry = opts.registry ?? (await createOwnRegistry(config, opts.logger, await upstream(), now));
    if (!opts.registry) closers.push(() => registry.close?.());
    const forwarder = opts.forwarder ?? createOwnForwarder(config, opts.logger, await upstream(), now);
    if (!opts.forwarder) closers.push(() => forwarder.close());

    const broker: BrokerHandle = await startBroker({
      registry,
      forwarder,
      logger: opts.logger,
      limits: settings.limits,
      tls: { certChainPem: material.server.chainPem, keyPem: material.server.keyPem },
      host: settings.listenAddress,
      port: settings.port,
      maxOfflineC2dPerDevice: settings.storeAndForward.maxC2dPerDevice,
      now,
    });
    closers.push(() => broker.close());
    watch.register(broker.metrics.registry);
    const health = (): Health => withCertificateHealth(broker.health(), watch);

    const scopeServer = await startOwnScopeServer(config, opts.logger, registry, material);
    if (scopeServer) closers.push(() => scopeServer.close());

    const stats = (forwarder as { stats?: () => UpstreamTotals }).stats;
    addGatewayGauges(broker.metrics, {
      registryStatus: () => registry.status(),
      upstreamState: () => forwarder.state(),
      ...(stats ? { upstreamTotals: () => stats.call(forwarder) } : {}),
      now,
    });
    let metricsServer: MetricsServer | undefined;
    if (settings.metricsListen) {
      metricsServer = await startMetricsServer({
        ...settings.metricsListen,
        metrics: broker.metrics,
        health,
        log,
      });
      const started = metricsServer;
      closers.push(() => started.close());
    }

    const certificates = startCertificateRenewal({
      config,
      dir: certsDir,
      initial: material,
      now,
      log,
      apply: (next) => {
        broker.setSecureContext({ certChainPem: next.server.chainPem, keyPem: next.server.keyPem });
        scopeServer?.setSecureContext({ cert: next.server.chainPem, key: next.server.keyPem });
        log.info({ serial: next.server.cert.serialHex }, 'server certificate swapped in');
      },
      report: reportTlsRenewal(watch, config, now),
    });
    closers.push(() => certificates.close());
    watchTlsCertificates(watch, certificates.current, config);
    const identity = startIdentityRenewal({ manager: est, forwarder, watch, log, now });
    closers.push(() => identity.close());
    const edgeCaRenewal = startEdgeCaRenewal({
      manager: estEdgeCa,
      reload: () => certificates.reload(true),
      watch,
      log,
      now,
    });
    closers.push(() => edgeCaRenewal.close());
    const workload = await startWorkload({
      config,
      material: certificates.current,
      logger: opts.logger,
      now,
    });
    if (workload) closers.push(() => workload.close());

    log.info(
      {
        hostname: config.hostname,
        port: broker.port,
        scopeApiPort: scopeServer?.port,
        metricsPort: metricsServer?.port,
        serverCertSerial: material.server.cert.serialHex,
        edgeCa: material.edgeCa.issuer.cert.subjectCn,
      },
      'gateway started',
    );

    return {
      port: broker.port,
      metricsPort: metricsServer?.port,
      scopeApiPort: scopeServer?.port,
      registry,
      forwarder,
      metrics: broker.metrics,
      serverCertificate: () => certificates.current().server.cert,
      edgeCa: () => {
        const { edgeCa } = certificates.current();
        return {
          cert: edgeCa.issuer.cert,
          quickstart: edgeCa.quickstart,
          quickstartRootPath: edgeCa.quickstartRootPath,
        };
      },
      health,
      identityCertificate: () => est?.current()?.cred.cert,
      renewIdentity: identity.renew,
      renewEdgeCa: edgeCaRenewal.renew,
      workloadSocket: workload?.socketPath,
      reloadSecureContext: (o) =>
        certificates.reload(o?.reissue === true).catch((err: unknown) => {
          // The timer logs its own failures; a reload asked for from outside is logged here.
          log.error(
            { err: err instanceof Error ? err.message : String(err) },
            'certificate reload failed; keeping the current one',
          );
          throw err;
        }),
      reloadIdentity: async () => {
        if (est || !pems) return false;
        return reloadManualIdentity({ config, holder: pems, forwarder, log });
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
