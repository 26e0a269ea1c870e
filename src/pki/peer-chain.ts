import type { DetailedPeerCertificate } from 'node:tls';
import { TLSSocket } from 'node:tls';
import { type CertInfo, parseCertificateDer } from './certificate.ts';

/** More certificates than any legitimate device chain; stops a hostile peer from making us parse many. */
const MAX_PEER_CHAIN = 8;

export type PeerChain =
  | { readonly ok: true; readonly chain: readonly CertInfo[] }
  | { readonly ok: false; readonly detail: string };

/**
 * What the TLS peer presented, leaf first. aedes hands hooks a plain Duplex, so anything that is not
 * a TLSSocket is refused here (fail closed). The chain is walked through `issuerCertificate` until it
 * repeats (OpenSSL links a self-signed certificate to itself) or ends.
 */
export function peerChainOf(conn: unknown): PeerChain {
  if (!(conn instanceof TLSSocket)) return { ok: false, detail: 'connection is not TLS' };
  let cert: DetailedPeerCertificate;
  try {
    cert = conn.getPeerCertificate(true);
  } catch {
    return { ok: false, detail: 'cannot read the peer certificate' };
  }
  const chain: CertInfo[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  let current: DetailedPeerCertificate | undefined = cert;
  while (current?.raw && !seen.has(current) && chain.length < MAX_PEER_CHAIN) {
    seen.add(current);
    try {
      chain.push(parseCertificateDer(current.raw, `peer certificate ${chain.length + 1}`));
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
    const next: DetailedPeerCertificate | undefined = current.issuerCertificate;
    if (next === current || (next?.fingerprint256 && next.fingerprint256 === current.fingerprint256)) break;
    current = next;
  }
  return { ok: true, chain };
}
