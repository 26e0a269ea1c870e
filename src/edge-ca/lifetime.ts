import type { LifetimePoint } from '../config/types.ts';

interface Validity {
  readonly notBefore: number;
  readonly notAfter: number;
}

/**
 * When a certificate is due for renewal: after `value`% of its lifetime, or `ms` before it expires
 * (IoT Edge's `[edge_ca.auto_renew] threshold` semantics).
 */
export function renewalTime(cert: Validity, threshold: LifetimePoint): number {
  if (threshold.kind === 'duration') return cert.notAfter - threshold.ms;
  return cert.notBefore + ((cert.notAfter - cert.notBefore) * threshold.value) / 100;
}

/** How long to wait after a failed renewal: `value`% of the lifetime, or a fixed duration. */
export function retryDelay(cert: Validity, retry: LifetimePoint): number {
  if (retry.kind === 'duration') return retry.ms;
  return ((cert.notAfter - cert.notBefore) * retry.value) / 100;
}

export function isRenewalDue(cert: Validity, threshold: LifetimePoint, now: number): boolean {
  return now >= renewalTime(cert, threshold) || now >= cert.notAfter || now < cert.notBefore;
}
