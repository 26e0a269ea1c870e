import { constants, type X509Certificate } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import { type CertInfo, parseCertificateX509 } from './certificate.ts';

/** Longest peer chain read; validateChain stops at 8 as well, so more could never help a client. */
export const MAX_PEER_CHAIN = 8;

const NONE: readonly CertInfo[] = Object.freeze([]);

/**
 * TLS server options for endpoints that authenticate clients through readPeerChain alone: no
 * session tickets. A resumed session restores only the client's leaf, not the intermediates it sent
 * (OpenSSL keeps no peer chain in the session), so a CA-signed client whose chain runs through an
 * intermediate would be refused as soon as it resumed — which Node's HTTPS agent does on its next
 * connection. These endpoints (scope API, EST, the mock hub's MQTT) see few connections; the
 * device broker, which sees many, keeps resumption and completes chains from the intermediates of
 * accepted chains instead (src/broker/intermediates.ts).
 */
export const FULL_HANDSHAKES_ONLY = { secureOptions: constants.SSL_OP_NO_TICKET } as const;

/**
 * The certificates the TLS peer presented, leaf first; `undefined` when the stream is not TLS (aedes
 * hands hooks a plain Duplex, so callers must fail closed on it). Uses getPeerX509Certificate() and
 * its issuerCertificate links: cheaper than getPeerCertificate(true), which builds a plain object
 * with three fingerprints per certificate (and on Node 20 the two must not be mixed on one socket:
 * the first call consumes the chain the second would see). Walk bounded; stops at a self-loop.
 * Throws GH_ERR_PEM when a presented certificate cannot be parsed.
 */
export function readPeerChain(conn: unknown): readonly CertInfo[] | undefined {
  if (!(conn instanceof TLSSocket)) return undefined;
  let x509: X509Certificate | undefined = conn.getPeerX509Certificate();
  if (!x509) return NONE;
  const chain: CertInfo[] = [];
  let previous: string | undefined;
  for (let i = 0; x509 && i < MAX_PEER_CHAIN; i++) {
    const info = parseCertificateX509(x509, `client certificate ${i + 1}`);
    if (info.sha256 === previous) break;
    chain.push(info);
    previous = info.sha256;
    x509 = x509.issuerCertificate;
  }
  return chain;
}

export type PeerChain =
  | { readonly ok: true; readonly chain: readonly CertInfo[] }
  | { readonly ok: false; readonly detail: string };

/** readPeerChain as a result value, for callers that turn every failure into one refusal. */
export function peerChainOf(conn: unknown): PeerChain {
  try {
    const chain = readPeerChain(conn);
    return chain ? { ok: true, chain } : { ok: false, detail: 'connection is not TLS' };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}
