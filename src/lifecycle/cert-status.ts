import { Counter, Gauge, type Registry } from 'prom-client';
import type { Health } from '../broker/health.ts';
import type { CertInfo } from '../pki/index.ts';

/** The certificates the gateway renews itself. */
export type WatchedCertificate = 'server' | 'edge_ca' | 'identity';

interface Entry {
  readonly current: () => CertInfo;
  readonly renewAt: () => number;
  failing: { readonly message: string; readonly at: number } | undefined;
}

export interface CertificateState {
  readonly certificate: WatchedCertificate;
  readonly serial: string;
  readonly notAfter: string;
  readonly renewAt: string;
  readonly renewalError: string | undefined;
}

/**
 * What the renewal timers report: per certificate, the one in use, when it is due, and whether the
 * last renewal failed. Metrics and /health read it, so a failing renewal shows long before expiry.
 */
export class CertificateWatch {
  readonly #entries = new Map<WatchedCertificate, Entry>();
  readonly #now: () => number;
  #failures: Counter<'certificate'> | undefined;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  watch(name: WatchedCertificate, current: () => CertInfo, renewAt: () => number): void {
    this.#entries.set(name, { current, renewAt, failing: undefined });
  }

  succeeded(name: WatchedCertificate): void {
    const e = this.#entries.get(name);
    if (e) e.failing = undefined;
  }

  failed(name: WatchedCertificate, err: unknown): void {
    const e = this.#entries.get(name);
    if (e) e.failing = { message: err instanceof Error ? err.message : String(err), at: this.#now() };
    this.#failures?.inc({ certificate: name });
  }

  states(): CertificateState[] {
    return [...this.#entries].map(([certificate, e]) => ({
      certificate,
      serial: e.current().serialHex,
      notAfter: new Date(e.current().notAfter).toISOString(),
      renewAt: new Date(e.renewAt()).toISOString(),
      renewalError: e.failing?.message,
    }));
  }

  /** Failing renewals, and certificates past their renewal point (a renewal that never ran counts too). */
  troubled(): CertificateState[] {
    const now = this.#now();
    return this.states().filter((s) => s.renewalError !== undefined || Date.parse(s.renewAt) <= now);
  }

  /** gatehouse_certificate_expiry_seconds, _renewal_failing and _renewal_failures_total, per certificate. */
  register(registry: Registry): void {
    const registers = [registry];
    const entries = this.#entries;
    const now = this.#now;
    new Gauge({
      name: 'gatehouse_certificate_expiry_seconds',
      help: 'Seconds until the certificate in use expires',
      labelNames: ['certificate'],
      registers,
      collect() {
        for (const [name, e] of entries)
          this.set({ certificate: name }, (e.current().notAfter - now()) / 1000);
      },
    });
    new Gauge({
      name: 'gatehouse_certificate_renewal_failing',
      help: '1 while the last renewal attempt of the certificate failed (the old one is still in use)',
      labelNames: ['certificate'],
      registers,
      collect() {
        for (const [name, e] of entries) this.set({ certificate: name }, e.failing ? 1 : 0);
      },
    });
    this.#failures = new Counter({
      name: 'gatehouse_certificate_renewal_failures_total',
      help: 'Failed certificate renewal attempts',
      labelNames: ['certificate'],
      registers,
    });
  }
}

/**
 * /health with the certificates folded in: a failing or overdue renewal makes a "ready" gateway
 * "degraded" (still 200: it serves with the old, valid certificate) and lists the certificates.
 */
export function withCertificateHealth(health: Health, watch: CertificateWatch): Health {
  const troubled = watch.troubled();
  if (troubled.length === 0) return health;
  const body = {
    ...health.body,
    status: health.body.status === 'ready' ? 'degraded' : health.body.status,
    certificates: troubled,
  };
  // The broker's HealthBody lists its own fields; /health serializes the body as is, extra field included.
  return { httpStatus: health.httpStatus, body: body as Health['body'] };
}
