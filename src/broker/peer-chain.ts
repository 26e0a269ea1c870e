import { TLSSocket } from 'node:tls';
import {
  type CertInfo,
  parseCertificateDer,
  parseCertificateFingerprinted,
  parseCertificateX509,
} from '../pki/index.ts';
import { readPeerChain } from '../pki/peer-chain.ts';

export { MAX_PEER_CHAIN } from '../pki/peer-chain.ts';

/** The certificates the TLS peer presented, leaf first; `undefined` when the stream is not TLS. */
export type PeerChainReader = (conn: unknown) => readonly CertInfo[] | undefined;

/** The broker reads peers through the one shared reader; tests inject others through this type. */
export const tlsPeerChain: PeerChainReader = readPeerChain;

/**
 * How the CONNECT hook reads the peer, cheapest first. Each answers like PeerChainReader (leaf first,
 * [] = no certificate, undefined = not TLS) and throws GH_ERR_PEM on an unparseable certificate.
 */
export interface PeerReaders {
  /** Every certificate presented: CA-signed devices whose chain JavaScript validates. */
  readonly chain: PeerChainReader;
  /** The leaf only, no issuer walk: thumbprint devices (≈ 10 µs for a lone self-signed leaf). */
  readonly leaf: PeerChainReader;
  /**
   * The leaf only, without decoding the rest of the chain: for chains OpenSSL already verified.
   * getPeerX509Certificate() copies (re-decodes) every certificate of the chain, ≈ 120 µs per
   * intermediate; getPeerCertificate(false) reads the leaf alone (≈ 60 µs).
   */
  readonly verifiedLeaf: PeerChainReader;
}

const NONE: readonly CertInfo[] = Object.freeze([]);

/** TLS readers; an injected chain reader (tests, non-TLS streams) serves all three. */
export function peerReaders(injected?: PeerChainReader): PeerReaders {
  if (injected) return { chain: injected, leaf: injected, verifiedLeaf: injected };
  return { chain: tlsPeerChain, leaf: tlsLeaf, verifiedLeaf: tlsLeafAlone };
}

function tlsLeaf(conn: unknown): readonly CertInfo[] | undefined {
  if (!(conn instanceof TLSSocket)) return undefined;
  const x509 = conn.getPeerX509Certificate();
  return x509 ? [parseCertificateX509(x509, 'client certificate 1')] : NONE;
}

function tlsLeafAlone(conn: unknown): readonly CertInfo[] | undefined {
  if (!(conn instanceof TLSSocket)) return undefined;
  // Node 20: this and getPeerX509Certificate() may be called on one socket in this order (checked:
  // the X509 chain still links its issuers afterwards), not getPeerCertificate(true) first.
  const peer = conn.getPeerCertificate(false);
  if (!peer?.raw) return NONE;
  const leaf = peer.fingerprint256
    ? parseCertificateFingerprinted(peer.fingerprint256, () => peer.raw, 'client certificate 1')
    : parseCertificateDer(peer.raw, 'client certificate 1');
  return [leaf];
}
