import type { X509Certificate } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import { type CertInfo, parseCertificateDer } from '../pki/index.ts';

/** Longest peer chain read; validateChain stops at 8 as well, so more could never help a client. */
export const MAX_PEER_CHAIN = 8;

/** The certificates the TLS peer presented, leaf first; `undefined` when the stream is not TLS. */
export type PeerChainReader = (conn: unknown) => readonly CertInfo[] | undefined;

const NONE: readonly CertInfo[] = Object.freeze([]);

/**
 * Reads the client's chain once per connection. Uses getPeerX509Certificate() and its
 * issuerCertificate links: cheaper than getPeerCertificate(true), which builds a plain object with
 * three fingerprints per certificate (and on Node 20 the two must not be mixed on one socket: the
 * first call consumes the chain the second would see). Walk bounded; stops at a self-loop.
 * Throws GH_ERR_PEM when a presented certificate cannot be parsed.
 */
export const tlsPeerChain: PeerChainReader = (conn) => {
  if (!(conn instanceof TLSSocket)) return undefined;
  let x509: X509Certificate | undefined = conn.getPeerX509Certificate();
  if (!x509) return NONE;
  const chain: CertInfo[] = [];
  let previous: string | undefined;
  for (let i = 0; x509 && i < MAX_PEER_CHAIN; i++) {
    const info = parseCertificateDer(x509.raw, `client certificate ${i + 1}`);
    if (info.sha256 === previous) break;
    chain.push(info);
    previous = info.sha256;
    x509 = x509.issuerCertificate;
  }
  return chain;
};
