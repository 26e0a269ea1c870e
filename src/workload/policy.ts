import { isIP } from 'node:net';
import { isDnsName } from '../pki/profiles.ts';

export type WorkloadRefusal = 'bad-name' | 'name-not-allowed' | 'bad-expiration' | 'expiration-in-past';

export interface ServerCertRequest {
  readonly commonName: string;
  /** Extra DNS names or IPs for the SAN (the CN is always one). */
  readonly subjectAltNames: readonly string[];
  /** Requested notAfter, ms since epoch. */
  readonly expiration: number;
}

export type WorkloadDecision =
  | { readonly ok: true; readonly names: readonly string[]; readonly days: number }
  | { readonly ok: false; readonly reason: WorkloadRefusal; readonly detail: string };

export interface WorkloadPolicy {
  /** `[gateway.workload] allowed_names`, lowercase globs. */
  readonly allowedNames: readonly string[];
  /** `cert_days`: the longest lifetime granted. */
  readonly maxDays: number;
}

const DAY_MS = 86_400_000;

/**
 * Whether a module may have the server certificate it asks for. Pure and fail-closed: every name
 * (CN and SANs) must be a DNS name (no wildcard) or an IP and match an allowed glob; the lifetime is
 * the requested one rounded up to whole days, capped at `maxDays`.
 */
export function decideServerCert(
  req: ServerCertRequest,
  policy: WorkloadPolicy,
  now: number,
): WorkloadDecision {
  const names = [req.commonName, ...req.subjectAltNames];
  for (const name of names) {
    const dns = !name.includes('*') && isDnsName(name) && name.length > 0;
    if (!dns && isIP(name) === 0) {
      return {
        ok: false,
        reason: 'bad-name',
        detail: `"${name.slice(0, 80)}" is neither a DNS name nor an IP address`,
      };
    }
    if (!policy.allowedNames.some((glob) => globMatches(glob, name))) {
      return {
        ok: false,
        reason: 'name-not-allowed',
        detail: `"${name}" is not in [gateway.workload] allowed_names`,
      };
    }
  }
  if (!Number.isFinite(req.expiration)) {
    return { ok: false, reason: 'bad-expiration', detail: 'expiration is not a date' };
  }
  if (req.expiration <= now) {
    return { ok: false, reason: 'expiration-in-past', detail: 'expiration is not in the future' };
  }
  const days = Math.min(policy.maxDays, Math.max(1, Math.ceil((req.expiration - now) / DAY_MS)));
  return { ok: true, names, days };
}

/** `*` matches any run of characters (dots included); everything else literally, case-insensitively. */
export function globMatches(glob: string, name: string): boolean {
  const pattern = glob
    .toLowerCase()
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`).test(name.toLowerCase());
}
