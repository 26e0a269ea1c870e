import { isIP } from 'node:net';
import { GatehouseError } from '../errors.ts';
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH } from './certificate.ts';
import type { KeyType } from './keys.ts';
import { x509 } from './webcrypto.ts';

/**
 * What each kind of certificate in the system is allowed to be. The profile is policy only; the
 * signing authority (issue.ts) applies it and never decides on its own what a certificate may be.
 */
export const PROFILES = [
  'root',
  'intermediate',
  'edge-ca',
  'server',
  'client',
  'self-signed-device',
  'verification',
] as const;
export type ProfileName = (typeof PROFILES)[number];

export interface ProfileSpec {
  readonly selfSigned: boolean;
  readonly ca: boolean;
  /** basicConstraints pathLen for CA profiles; undefined = unlimited. */
  readonly defaultPathLen?: number;
  readonly eku?: readonly string[];
}

export const PROFILE_SPECS: Readonly<Record<ProfileName, ProfileSpec>> = Object.freeze({
  root: { selfSigned: true, ca: true },
  intermediate: { selfSigned: false, ca: true, defaultPathLen: 1 },
  // pathLen 0: an Edge CA signs only leaves (server certificates), as IoT Edge's does.
  'edge-ca': { selfSigned: false, ca: true, defaultPathLen: 0 },
  server: { selfSigned: false, ca: false, eku: [EKU_SERVER_AUTH] },
  client: { selfSigned: false, ca: false, eku: [EKU_CLIENT_AUTH] },
  'self-signed-device': { selfSigned: true, ca: false, eku: [EKU_CLIENT_AUTH] },
  verification: { selfSigned: false, ca: false, eku: [EKU_CLIENT_AUTH] },
});

/** X.520 upper bound for a common name. */
const MAX_CN = 64;

export function assertCommonName(cn: string, what = 'common name'): void {
  if (cn.length === 0 || cn.length > MAX_CN || cn.trim() !== cn || hasControlCharacter(cn)) {
    throw new GatehouseError(
      'GH_ERR_PROFILE',
      `${what} must be 1–${MAX_CN} printable characters without surrounding spaces`,
    );
  }
}

/** IoT Edge refuses an Edge CA whose CN equals the hostname: clients would confuse it with the server cert. */
export function assertEdgeCaDiffersFromHostname(edgeCaCn: string | undefined, hostname: string): void {
  if (edgeCaCn !== undefined && edgeCaCn.toLowerCase() === hostname.toLowerCase()) {
    throw new GatehouseError(
      'GH_ERR_PROFILE',
      `the Edge CA common name "${edgeCaCn}" must differ from the gateway hostname "${hostname}"`,
    );
  }
}

/** Splits the hostname and extra names into DNS and IP SAN entries. */
export function subjectAltNames(hostname: string, extra: readonly string[] = []): x509.JsonGeneralNames {
  const seen = new Set<string>();
  const names: x509.JsonGeneralNames = [];
  for (const name of [hostname, ...extra]) {
    const key = name.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    if (isIP(name)) names.push({ type: 'ip', value: name });
    else if (isDnsName(name)) names.push({ type: 'dns', value: name });
    else throw new GatehouseError('GH_ERR_PROFILE', `"${name}" is neither a DNS name nor an IP address`);
  }
  return names;
}

export function isDnsName(name: string): boolean {
  return (
    name.length <= 253 &&
    name.split('.').every((label) => /^(\*|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)$/.test(label))
  );
}

export function keyUsagesFor(spec: ProfileSpec, keyType: KeyType): number {
  const F = x509.KeyUsageFlags;
  if (spec.ca) return F.keyCertSign | F.cRLSign | F.digitalSignature;
  // RSA key exchange in TLS 1.2 needs keyEncipherment on RSA server certificates.
  return keyType === 'rsa-2048' ? F.digitalSignature | F.keyEncipherment : F.digitalSignature;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
