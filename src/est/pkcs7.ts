import { GatehouseError } from '../errors.ts';
import { type CertInfo, parseCertificateDer } from '../pki/index.ts';
import { x509 } from '../pki/webcrypto.ts';

/** An EST answer never carries more than a short chain; more is refused before parsing each one. */
const MAX_CERTS = 8;
/** Base64 bodies larger than this are not EST answers (a handful of certificates is a few KB). */
export const MAX_EST_BODY_BYTES = 256 * 1024;

/**
 * RFC 7030's "certs-only" reply: a degenerate PKCS#7 SignedData carrying certificates and no signers,
 * base64 (DER inside), as @peculiar/x509's X509Certificates writes it.
 */
export function encodeCertsOnly(certs: readonly CertInfo[]): string {
  const list = new x509.X509Certificates(certs.map((c) => new x509.X509Certificate(c.der)));
  return list.export('base64');
}

/**
 * Reads a certs-only PKCS#7 body (base64 with optional line breaks, per RFC 7030 §4.1.3). Anything
 * else — not base64, not SignedData, no certificate, too many — is one GH_ERR_PROTOCOL naming it.
 */
export function decodeCertsOnly(body: string, what = 'EST response'): CertInfo[] {
  const compact = body.replace(/[\r\n\t ]/g, '');
  if (compact.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
    throw new GatehouseError('GH_ERR_PROTOCOL', `${what}: body is not base64`);
  }
  let list: x509.X509Certificates;
  try {
    list = new x509.X509Certificates(Buffer.from(compact, 'base64'));
  } catch (err) {
    throw new GatehouseError('GH_ERR_PROTOCOL', `${what}: not a PKCS#7 certs-only message`, { cause: err });
  }
  if (list.length === 0) throw new GatehouseError('GH_ERR_PROTOCOL', `${what}: PKCS#7 holds no certificate`);
  if (list.length > MAX_CERTS) {
    throw new GatehouseError('GH_ERR_PROTOCOL', `${what}: PKCS#7 holds more than ${MAX_CERTS} certificates`);
  }
  return list.map((c, i) => parseCertificateDer(Buffer.from(c.rawData), `${what} certificate ${i + 1}`));
}

/** RFC 7030 answers are `application/pkcs7-mime` (parameters such as smime-type may follow). */
export function isPkcs7Mime(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/pkcs7-mime';
}
