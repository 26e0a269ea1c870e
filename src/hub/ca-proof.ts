import type { CertInfo } from '../pki/certificate.ts';
import { validateChain } from '../pki/validate.ts';

export type CaUploadRefusal = 'not-ca' | 'no-keycertsign' | 'expired' | 'not-yet-valid';

export type ProofRefusal =
  | 'wrong-code'
  | 'wrong-signer'
  | 'verification-is-ca'
  | 'expired'
  | 'not-yet-valid'
  | 'ca-unusable';

export type Decision<R extends string> =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: R; readonly detail: string };

/** Whether a certificate may be uploaded as a device CA: a CA that may sign, valid now. */
export function checkCaCertificate(ca: CertInfo, now: number): Decision<CaUploadRefusal> {
  if (!ca.isCa)
    return {
      ok: false,
      reason: 'not-ca',
      detail: 'certificate is not a CA (basicConstraints CA:TRUE missing)',
    };
  if (ca.keyUsage && !ca.keyUsage.has('keyCertSign')) {
    return { ok: false, reason: 'no-keycertsign', detail: 'CA certificate keyUsage lacks keyCertSign' };
  }
  if (now < ca.notBefore) {
    return {
      ok: false,
      reason: 'not-yet-valid',
      detail: `CA certificate is valid only from ${iso(ca.notBefore)}`,
    };
  }
  if (now > ca.notAfter)
    return { ok: false, reason: 'expired', detail: `CA certificate expired at ${iso(ca.notAfter)}` };
  return { ok: true };
}

/**
 * IoT Hub's proof of possession: the owner of an uploaded CA signs a certificate whose CN is the
 * verification code the hub handed out. The chain check uses the uploaded CA as the only anchor and
 * no intermediates, so only that CA's private key can have produced a passing certificate.
 */
export function checkProofOfPossession(p: {
  readonly ca: CertInfo;
  readonly verification: CertInfo;
  readonly code: string;
  readonly now: number;
}): Decision<ProofRefusal> {
  const no = (reason: ProofRefusal, detail: string): Decision<ProofRefusal> => ({
    ok: false,
    reason,
    detail,
  });
  if (p.verification.subjectCn !== p.code) {
    return no(
      'wrong-code',
      `verification certificate CN "${p.verification.subjectCn ?? ''}" is not the verification code`,
    );
  }
  if (p.verification.isCa)
    return no('verification-is-ca', 'the verification certificate must be a leaf, not a CA');
  const chain = validateChain({ leaf: p.verification, anchors: [p.ca], at: p.now, maxDepth: 2 });
  if (chain.ok) return { ok: true };
  switch (chain.reason) {
    case 'expired':
      return no('expired', chain.detail);
    case 'not-yet-valid':
      return no('not-yet-valid', chain.detail);
    case 'unknown-issuer':
    case 'bad-signature':
    case 'chain-too-long':
      return no('wrong-signer', `verification certificate is not signed by this CA (${chain.detail})`);
    default:
      return no('ca-unusable', chain.detail);
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();
