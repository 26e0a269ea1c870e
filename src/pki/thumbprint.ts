import { createHash } from 'node:crypto';

export type ThumbprintAlgorithm = 'sha256' | 'sha1';

/** IoT Hub form: uppercase hex, no separators. */
export function thumbprint(der: Uint8Array, algorithm: ThumbprintAlgorithm = 'sha256'): string {
  return createHash(algorithm).update(der).digest('hex').toUpperCase();
}

/** openssl form: `AB:CD:…`, as `openssl x509 -noout -fingerprint -sha256` prints after the `=`. */
export function toOpensslForm(hubForm: string): string {
  return normalizeThumbprint(hubForm)?.match(/.{2}/g)?.join(':') ?? '';
}

/**
 * Accepts either form in any case and returns the IoT Hub form, or undefined when the text is not a
 * SHA-1 (40 hex) or SHA-256 (64 hex) thumbprint.
 */
export function normalizeThumbprint(text: string): string | undefined {
  const hex = text.trim().replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(hex)) return undefined;
  return hex.length === 40 || hex.length === 64 ? hex : undefined;
}

export function thumbprintsEqual(a: string, b: string): boolean {
  const na = normalizeThumbprint(a);
  return na !== undefined && na === normalizeThumbprint(b);
}
