import { type CertInfo, EKU_ANY } from './certificate.ts';

export type ChainRefusal =
  | 'expired'
  | 'not-yet-valid'
  | 'unknown-issuer'
  | 'bad-signature'
  | 'issuer-not-ca'
  | 'issuer-no-keycertsign'
  | 'path-length'
  | 'wrong-eku'
  | 'critical-extension'
  | 'chain-too-long';

export type ChainResult =
  | { readonly ok: true; readonly path: readonly CertInfo[] }
  | { readonly ok: false; readonly reason: ChainRefusal; readonly at: CertInfo; readonly detail: string };

export interface ValidateChainParams {
  readonly leaf: CertInfo;
  /** Untrusted certificates that may complete the path (what TLS peers send after the leaf). Default: none. */
  readonly intermediates?: readonly CertInfo[];
  /** Trust anchors: a path must end at one of these. */
  readonly anchors: readonly CertInfo[];
  /** Instant at which every certificate of the path must be valid (ms since epoch). */
  readonly at: number;
  /**
   * EKU OID every certificate of the path must allow when it carries an EKU extension (intermediates
   * too, as OpenSSL checks). Default: no EKU check.
   */
  readonly purpose?: string;
  /** Longest path tried, anchor included. Default 8. */
  readonly maxDepth?: number;
}

/**
 * The one chain validator: builds a path from the leaf to an anchor, then checks, certificate by
 * certificate from the leaf up, validity at `at`, critical extensions, CA flag, keyCertSign, pathLen
 * and EKU. Signatures are checked while the path is built. Pure: the same inputs give the same result,
 * and the first refusal found names the weakest link.
 */
export function validateChain(p: ValidateChainParams): ChainResult {
  const built = buildPath(p);
  if (!built.ok) return built;
  const { path } = built;
  for (let i = 0; i < path.length; i++) {
    const cert = path[i] as CertInfo;
    const refusal = checkCertificate(cert, i, p);
    if (refusal) return refusal;
  }
  return built;
}

function checkCertificate(cert: CertInfo, index: number, p: ValidateChainParams): ChainResult | undefined {
  // Written as negations so that a NaN instant fails closed.
  if (!(p.at >= cert.notBefore)) return refuse('not-yet-valid', cert, `valid from ${iso(cert.notBefore)}`);
  if (!(p.at <= cert.notAfter)) return refuse('expired', cert, `expired at ${iso(cert.notAfter)}`);
  if (cert.unhandledCriticalExtensions.length > 0) {
    return refuse(
      'critical-extension',
      cert,
      `unsupported critical extension ${cert.unhandledCriticalExtensions.join(', ')}`,
    );
  }
  if (index > 0) {
    if (!cert.isCa) return refuse('issuer-not-ca', cert, 'issuer lacks basicConstraints CA:TRUE');
    if (cert.keyUsage && !cert.keyUsage.has('keyCertSign'))
      return refuse('issuer-no-keycertsign', cert, 'issuer keyUsage lacks keyCertSign');
    // CA certificates between this one and the leaf (RFC 5280 6.1.4 (l)).
    const below = index - 1;
    if (cert.pathLen !== undefined && below > cert.pathLen) {
      return refuse('path-length', cert, `pathLen ${cert.pathLen} but ${below} CA certificate(s) below it`);
    }
  }
  const eku = cert.extKeyUsage;
  if (p.purpose && eku && !eku.includes(p.purpose) && !eku.includes(EKU_ANY)) {
    return refuse('wrong-eku', cert, `extended key usage does not allow ${p.purpose}`);
  }
  return undefined;
}

function buildPath(p: ValidateChainParams): ChainResult {
  const maxDepth = p.maxDepth ?? 8;
  const intermediates = p.intermediates ?? [];
  const path: CertInfo[] = [p.leaf];
  let current = p.leaf;
  for (;;) {
    if (p.anchors.some((a) => a.sha256 === current.sha256)) return { ok: true, path };
    if (path.length >= maxDepth)
      return refuse('chain-too-long', current, `no anchor within ${maxDepth} certificates`);
    // Anchors first, so the shortest path wins when an intermediate is also trusted.
    let signer = findSigner(current, p.anchors);
    if (!signer) {
      const fromIntermediates = findSigner(current, intermediates);
      if (fromIntermediates !== undefined) signer = fromIntermediates;
    }
    if (signer === undefined)
      return refuse('unknown-issuer', current, `no trusted issuer "${current.issuer}"`);
    if (signer === null)
      return refuse('bad-signature', current, `signature does not verify under "${current.issuer}"`);
    if (path.some((c) => c.sha256 === signer.sha256)) return refuse('unknown-issuer', current, 'issuer loop');
    path.push(signer);
    current = signer;
  }
}

/** The candidate whose key verifies `child`; null when names match but no signature verifies; undefined when no name matches. */
function findSigner(child: CertInfo, candidates: readonly CertInfo[]): CertInfo | null | undefined {
  let named = false;
  for (const c of candidates) {
    if (c.subject !== child.issuer || c.sha256 === child.sha256 || !keyIdsAgree(child, c)) continue;
    named = true;
    if (signedBy(child, c)) return c;
  }
  return named ? null : undefined;
}

function keyIdsAgree(child: CertInfo, issuer: CertInfo): boolean {
  return !child.authorityKeyId || !issuer.subjectKeyId || child.authorityKeyId === issuer.subjectKeyId;
}

function signedBy(child: CertInfo, issuer: CertInfo): boolean {
  try {
    return child.native.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function refuse(reason: ChainRefusal, at: CertInfo, detail: string): ChainResult {
  return { ok: false, reason, at, detail: `${at.subjectCn ?? at.subject}: ${detail}` };
}

const iso = (ms: number): string => new Date(ms).toISOString();
