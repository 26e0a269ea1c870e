import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDnsName } from '../pki/profiles.ts';
import type { LifetimePoint } from './types.ts';

/** A checked value or the reason it was refused (the caller prefixes the key). */
export type ValueResult<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * A host name devices or the gateway can put in a TLS server-name check: a DNS name (no wildcard, no
 * trailing dot) or an IPv4/IPv6 address.
 */
export function isHostName(value: string): boolean {
  if (isIP(value) !== 0) return true;
  return value.length > 0 && !value.includes('*') && isDnsName(value);
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

/**
 * A file value as IoT Edge writes them: `file:///abs/path`, an absolute path, or a path relative to the
 * config file's folder. Other URL schemes (pkcs11:, http:) are refused rather than misread as paths.
 */
export function resolveConfigPath(value: string, baseDir: string): ValueResult<string> {
  if (value.length === 0) return { ok: false, message: 'must not be empty' };
  if (value.includes('\0')) return { ok: false, message: 'must not contain a NUL character' };
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme === 'file') {
    try {
      return { ok: true, value: fileURLToPath(new URL(value)) };
    } catch {
      return { ok: false, message: 'must be a file:///absolute/path URL (no host)' };
    }
  }
  if (scheme !== undefined) {
    return { ok: false, message: `"${scheme}:" URLs are not supported (use a path or file:///path)` };
  }
  return { ok: true, value: isAbsolute(value) ? value : resolve(baseDir, value) };
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const MAX_DURATION_MS = 3650 * 86_400_000;

/**
 * IoT Edge's renewal points: `"80%"` (a share of the certificate's lifetime, strictly between 0 and
 * 100) or a duration `"90d"`, `"12h"`, `"30m"`, `"45s"` (positive, at most 3650 days).
 */
export function parseLifetimePoint(value: string): ValueResult<LifetimePoint> {
  const percent = /^(\d{1,3}(?:\.\d{1,3})?)%$/.exec(value);
  if (percent) {
    const n = Number(percent[1]);
    if (n > 0 && n < 100) return { ok: true, value: { kind: 'percent', value: n } };
    return { ok: false, message: 'a percentage must be greater than 0% and less than 100%' };
  }
  const duration = /^(\d{1,9})([smhd])$/.exec(value);
  if (duration) {
    const ms = Number(duration[1]) * (DURATION_UNITS_MS[duration[2] ?? ''] ?? 0);
    if (ms > 0 && ms <= MAX_DURATION_MS) return { ok: true, value: { kind: 'duration', ms } };
    return { ok: false, message: 'a duration must be positive and at most 3650d' };
  }
  return {
    ok: false,
    message: 'must be a percentage like "80%" or a duration like "10d", "12h", "30m", "45s"',
  };
}

/** `"host:port"` or `"[ipv6]:port"`; the host is a DNS name or IP, the port 0–65535 (0 = any free port). */
export function parseListenAddress(value: string): ValueResult<{ host: string; port: number }> {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]+):(\d{1,5})$/.exec(value);
  const host = match?.[1];
  const port = Number(match?.[2]);
  const bracketed = value.startsWith('[');
  if (!host || !Number.isInteger(port) || port > 65535) {
    return { ok: false, message: 'must be "host:port" (or "[ipv6]:port") with a port from 0 to 65535' };
  }
  if (bracketed ? isIP(host) !== 6 : !isHostName(host)) {
    return { ok: false, message: `"${host}" is neither a DNS name nor an IP address` };
  }
  return { ok: true, value: { host, port } };
}

/**
 * `[cert_issuance.est] url`: an https URL with a host and no credentials, query or fragment, e.g.
 * `https://hub.example:8443/.well-known/est`. Returned without a trailing slash.
 */
export function parseEstUrl(value: string): ValueResult<string> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, message: 'must be an https:// URL like "https://host:8443/.well-known/est"' };
  }
  if (url.protocol !== 'https:') return { ok: false, message: 'must be an https:// URL (EST runs over TLS)' };
  if (url.username || url.password || url.search || url.hash) {
    return { ok: false, message: 'must not carry credentials, a query or a fragment' };
  }
  return { ok: true, value: url.href.replace(/\/+$/, '') };
}

/**
 * `[gateway.workload] allowed_names`: a DNS-like glob a module's requested name must match —
 * letters, digits, `-`, `.`, `_` and `*` (any run of characters), or an IP address.
 */
export function parseNameGlob(value: string): ValueResult<string> {
  if (isIP(value) !== 0) return { ok: true, value: value.toLowerCase() };
  if (value.length === 0 || value.length > 253 || !/^[A-Za-z0-9*._-]+$/.test(value)) {
    return {
      ok: false,
      message: 'each entry must be a name or glob of letters, digits, - . _ and * (or an IP)',
    };
  }
  return { ok: true, value: value.toLowerCase() };
}
