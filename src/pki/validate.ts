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
  | 'chain-too-long';

export type ChainResult =
  | { readonly ok: true; readonly path: readonly CertInfo[] }
  | { readonly ok: false; readonly reason: ChainRefusal; readonly at: CertInfo; readonly detail: string };

export interface ValidateChainParams {
  readonly leaf: CertInfo;
  /** Untrusted certificates that may complete the path (what TLS peers send after the leaf). */
  readonly intermediates?: readonly CertInfo[];
  /** Trust anchors: a path must end at one of these. */
  readonly anchors: readonly CertInfo[];
  /** Instant at which every certificate of the path must be valid (ms since epoch). */
  readonly at: number;
  /** EKU the leaf must allow when it carries an EKU extension (intermediates too, as OpenSSL checks). */
  readonly purpose?: string;
  /** Longest path tried, anchor included. Default 8. */
  readonly maxDepth?: number;
}

/**
 * The one chain validator: builds a path from the leaf to an anchor, then checks signatures, validity
 * at `at`, CA flags, keyCertSign, pathLen and EKU. Pure: the same inputs give the same result.
 * Returns the first refusal found walking from the leaf up, so the reason names the weakest link.
 */
export function validateChain(p: ValidateChainParams): ChainResult {
  const built = buildPath(p);
  if (!built.ok) return built;
  const { path } = built;
  for (const cert of path) {
    if (p.at < cert.notBefore) return refuse('not-yet-valid', cert, `valid from ${iso(cert.notBefore)}`);
    if (p.at > cert.notAfter) return refuse('expired', cert, `expired at ${iso(cert.notAfter)}`);
  }
  for (let i = 1; i < path.length; i++) {
    const ca = path[i] as CertInfo;
    if (!ca.isCa) return refuse('issuer-not-ca', ca, 'issuer lacks basicConstraints CA:TRUE');
    if (ca.keyUsage && !ca.keyUsage.has('keyCertSign'))
      return refuse('issuer-no-keycertsign', ca, 'issuer keyUsage lacks keyCertSign');
    // CA certificates below this one, the leaf excluded (RFC 5280 6.1.4 (l)).
    const below = i - 1;
    if (ca.pathLen !== undefined && below > ca.pathLen) {
      return refuse('path-length', ca, `pathLen ${ca.pathLen} but ${below} CA certificate(s) below it`);
    }
  }
  if (p.purpose) {
    for (let i = 0; i < path.length; i++) {
      const eku = (path[i] as CertInfo).extKeyUsage;
      if (eku && !eku.includes(p.purpose) && !eku.includes(EKU_ANY)) {
        return refuse('wrong-eku', path[i] as CertInfo, `extended key usage does not allow ${p.purpose}`);
      }
    }
  }
  return { ok: true, path };
}

function buildPath(p: ValidateChainParams): ChainResult {
  const maxDepth = p.maxDepth ?? 8;
  const path: CertInfo[] = [p.leaf];
  let current = p.leaf;
  for (;;) {
    if (p.anchors.some((a) => a.sha256 === current.sha256)) return { ok: true, path };
    if (path.length >= maxDepth)
      return refuse('chain-too-long', current, `no anchor within ${maxDepth} certificates`);
    const candidates = [...p.anchors, ...(p.intermediates ?? [])].filter(
      (c) => c.subject === current.issuer && c.sha256 !== current.sha256 && keyIdsAgree(current, c),
    );
    if (candidates.length === 0)
      return refuse('unknown-issuer', current, `no trusted issuer "${current.issuer}"`);
    const signer = candidates.find((c) => signedBy(current, c));
    if (!signer)
      return refuse('bad-signature', current, `signature does not verify under "${current.issuer}"`);
    if (path.some((c) => c.sha256 === signer.sha256)) return refuse('unknown-issuer', current, 'issuer loop');
    path.push(signer);
    current = signer;
  }
}

function keyIdsAgree(child: CertInfo, issuer: CertInfo): boolean {
  return !child.authorityKeyId || !issuer.subjectKeyId || child.authorityKeyId === issuer.subjectKeyId;
}

function signedBy(child: CertInfo, issuer: CertInfo): boolean {
  try {
    return child.native.verify(issuer.native.publicKey);
  } catch {
    return false;
  }
}

function refuse(reason: ChainRefusal, at: CertInfo, detail: string): ChainResult {
  return { ok: false, reason, at, detail: `${at.subjectCn ?? at.subject}: ${detail}` };
}

const iso = (ms: number): string => new Date(ms).toISOString();
