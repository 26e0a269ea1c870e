import { deviceIdFromUsername } from '../iothub/topics.ts';
import { type CertInfo, EKU_ANY, EKU_CLIENT_AUTH } from '../pki/certificate.ts';
import { normalizeThumbprint } from '../pki/thumbprint.ts';
import { type ChainRefusal, validateChain } from '../pki/validate.ts';
import type { DeviceRecord } from '../registry/device.ts';

export type AuthRefusal =
  | 'no-client-cert'
  | 'bad-client-id'
  | 'username-mismatch'
  | 'unknown-device'
  | 'disabled'
  | 'out-of-scope'
  | 'thumbprint-mismatch'
  | 'cert-expired'
  | 'cert-not-yet-valid'
  | 'cn-mismatch'
  | 'leaf-is-ca'
  | 'wrong-eku'
  | 'untrusted-ca'
  | 'chain-invalid';

export type AuthMethod = 'thumbprint' | 'ca';

export type AuthDecision =
  | { readonly ok: true; readonly deviceId: string; readonly method: AuthMethod; readonly thumbprint: string }
  | {
      readonly ok: false;
      readonly reason: AuthRefusal;
      readonly deviceId: string | undefined;
      readonly thumbprint: string | undefined;
      readonly detail: string;
    };

export interface AuthInput {
  /** MQTT client id; IoT Hub's device id. */
  readonly clientId: string;
  /** MQTT username, when the client sent one. */
  readonly username: string | undefined;
  /** What the TLS peer presented: leaf first, then whatever intermediates it sent. Empty = none. */
  readonly peerChain: readonly CertInfo[];
  /** The registry record for clientId, or undefined when there is none. */
  readonly record: DeviceRecord | undefined;
  /** Whether the device is inside the authenticating edge device's scope (always true at the hub). */
  readonly inScope: boolean;
  /** CA certificates uploaded to the hub and verified by proof of possession. */
  readonly verifiedCas: readonly CertInfo[];
  /** Decision instant, ms since epoch. */
  readonly now: number;
  /**
   * The TLS layer (OpenSSL, in a full handshake of this connection) already verified the peer's chain
   * to one of exactly these `verifiedCas` for clientAuth: the leaf's own checks still run here, the
   * path building and signature checks of validateChain are skipped. Default false.
   */
  readonly chainVerifiedByTls?: boolean;
}

/**
 * The device authentication decision, shared by the gateway and the mock hub. Pure and fail-closed:
 * every branch that is not an explicit acceptance refuses with a reason code.
 */
export function authenticateDevice(input: AuthInput): AuthDecision {
  const leaf = input.peerChain[0];
  const deviceId = input.clientId;

  if (!leaf) return refusal(input, 'no-client-cert', 'the TLS client presented no certificate');
  if (!deviceId) return refusal(input, 'bad-client-id', 'empty client id');
  if (input.username !== undefined && input.username !== '') {
    const named = deviceIdFromUsername(input.username);
    if (named !== deviceId)
      return refusal(
        input,
        'username-mismatch',
        `username names "${named ?? '?'}", client id is "${deviceId}"`,
      );
  }
  const record = input.record;
  if (!record || record.deviceId !== deviceId)
    return refusal(input, 'unknown-device', 'no such device in the registry');
  if (record.status !== 'enabled') return refusal(input, 'disabled', 'device is disabled');
  if (!input.inScope) return refusal(input, 'out-of-scope', "device is outside this gateway's scope");

  if (record.authentication.type === 'selfSigned') {
    const { primaryThumbprint, secondaryThumbprint } = record.authentication;
    if (!thumbprintNames(primaryThumbprint, leaf) && !thumbprintNames(secondaryThumbprint, leaf)) {
      return refusal(
        input,
        'thumbprint-mismatch',
        'certificate thumbprint matches neither registered thumbprint',
      );
    }
    if (input.now < leaf.notBefore)
      return refusal(input, 'cert-not-yet-valid', 'certificate is not yet valid');
    if (input.now > leaf.notAfter) return refusal(input, 'cert-expired', 'certificate has expired');
    return { ok: true, deviceId, method: 'thumbprint', thumbprint: leaf.sha256 };
  }

  if (leaf.isCa) return refusal(input, 'leaf-is-ca', 'a CA certificate cannot authenticate a device');
  if (leaf.subjectCn !== deviceId)
    return refusal(input, 'cn-mismatch', `certificate CN "${leaf.subjectCn ?? ''}" is not the device id`);
  if (
    leaf.extKeyUsage &&
    !leaf.extKeyUsage.includes(EKU_CLIENT_AUTH) &&
    !leaf.extKeyUsage.includes(EKU_ANY)
  ) {
    return refusal(input, 'wrong-eku', 'certificate extended key usage does not allow clientAuth');
  }
  if (input.chainVerifiedByTls === true) {
    // Negations, so a NaN instant fails closed (as in validateChain).
    if (!(input.now >= leaf.notBefore))
      return refusal(input, 'cert-not-yet-valid', 'certificate is not yet valid');
    if (!(input.now <= leaf.notAfter)) return refusal(input, 'cert-expired', 'certificate has expired');
    if (leaf.unhandledCriticalExtensions.length > 0)
      return refusal(input, 'chain-invalid', 'certificate has an unsupported critical extension');
    return { ok: true, deviceId, method: 'ca', thumbprint: leaf.sha256 };
  }
  const chain = validateChain({
    leaf,
    intermediates: input.peerChain.slice(1),
    anchors: input.verifiedCas,
    at: input.now,
    purpose: EKU_CLIENT_AUTH,
  });
  if (!chain.ok) return refusal(input, chainReason(chain.reason), chain.detail);
  return { ok: true, deviceId, method: 'ca', thumbprint: leaf.sha256 };
}

// A module function, not a closure per call: run through tsx, each closure made also costs a
// keepNames `__name` call (a defineProperty), on every CONNECT.
function refusal(input: AuthInput, reason: AuthRefusal, detail: string): AuthDecision {
  return {
    ok: false,
    reason,
    deviceId: input.clientId || undefined,
    thumbprint: input.peerChain[0]?.sha256,
    detail,
  };
}

/** Whether a registered thumbprint (SHA-256 or SHA-1, any accepted spelling) names this certificate. */
function thumbprintNames(registered: string | undefined, leaf: CertInfo): boolean {
  if (!registered) return false;
  // Registry records hold the normalized form; other spellings are normalized first.
  if (registered === leaf.sha256 || registered === leaf.sha1) return true;
  const t = normalizeThumbprint(registered);
  return t !== undefined && (t === leaf.sha256 || t === leaf.sha1);
}

function chainReason(reason: ChainRefusal): AuthRefusal {
  switch (reason) {
    case 'expired':
      return 'cert-expired';
    case 'not-yet-valid':
      return 'cert-not-yet-valid';
    case 'unknown-issuer':
      return 'untrusted-ca';
    case 'wrong-eku':
      return 'wrong-eku';
    default:
      return 'chain-invalid';
  }
}
