import type { CertInfo } from '../pki/index.ts';

/**
 * Why the upstream link is not up, as a stable reason code. Pure functions of (error | certificate,
 * time), so the decision is testable without sockets.
 *
 * `refused` reasons mean the upstream (or our own check) rejects the gateway's identity: retrying with
 * the same certificate cannot help, so the state is 'refused' until the registry or the certificate
 * changes. Everything else is 'offline': the link retries with backoff.
 */
export type LinkFailureReason =
  | 'identity-expired'
  | 'identity-not-yet-valid'
  | 'not-authorized'
  | 'tls-refused'
  | 'server-untrusted'
  | 'unreachable'
  | 'protocol';

export interface LinkFailure {
  readonly reason: LinkFailureReason;
  readonly refused: boolean;
  readonly message: string;
}

/** The identity certificate's own validity at `now`; undefined when it is usable. */
export function checkIdentityValidity(leaf: CertInfo, now: number): LinkFailure | undefined {
  if (now > leaf.notAfter) {
    return {
      reason: 'identity-expired',
      refused: true,
      message: `identity certificate expired at ${new Date(leaf.notAfter).toISOString()}`,
    };
  }
  if (now < leaf.notBefore) {
    return {
      reason: 'identity-not-yet-valid',
      refused: true,
      message: `identity certificate is not valid before ${new Date(leaf.notBefore).toISOString()}`,
    };
  }
  return undefined;
}

/** MQTT 3.1.1 CONNACK codes: 2 identifier rejected, 4 bad user name or password, 5 not authorized. */
const REFUSING_CONNACK = new Set([2, 4, 5, 0x85, 0x86, 0x87, 0x8c]);

/** TLS alerts a server sends when it does not accept the client certificate it was given. */
const CLIENT_CERT_ALERT =
  /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|CERTIFICATE_UNKNOWN|UNKNOWN_CA|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|HANDSHAKE_FAILURE|DECRYPT_ERROR)/;

/** Node's codes for a server certificate we could not verify against trust_bundle_cert / the hostname. */
const SERVER_CERT_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_PURPOSE',
  'INVALID_CA',
]);

/** Classifies an error mqtt.js or the TLS socket reported for the upstream connection. */
export function classifyLinkError(err: unknown): LinkFailure {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = e?.code;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof code === 'number') {
    if (REFUSING_CONNACK.has(code)) {
      return { reason: 'not-authorized', refused: true, message: `upstream refused CONNECT: ${message}` };
    }
    return { reason: 'protocol', refused: false, message: `upstream CONNACK: ${message}` };
  }
  if (typeof code === 'string') {
    if (CLIENT_CERT_ALERT.test(code)) {
      return {
        reason: 'tls-refused',
        refused: true,
        message: `upstream refused the identity certificate (${code})`,
      };
    }
    if (SERVER_CERT_CODES.has(code)) {
      return {
        reason: 'server-untrusted',
        refused: false,
        message: `upstream server certificate not trusted (${code}): ${message}`,
      };
    }
  }
  if (message === 'TLS not authorized') {
    return { reason: 'server-untrusted', refused: false, message: 'upstream server certificate not trusted' };
  }
  return {
    reason: 'unreachable',
    refused: false,
    message: typeof code === 'string' ? `${code}: ${message}` : message,
  };
}
