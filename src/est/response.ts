import type { KeyObject } from 'node:crypto';
import { type CertInfo, EKU_CLIENT_AUTH, validateChain } from '../pki/index.ts';
import { decodeCertsOnly, isPkcs7Mime } from './pkcs7.ts';

export type EstRefusal =
  | 'http-status'
  | 'wrong-content-type'
  | 'malformed-pkcs7'
  | 'wrong-key'
  | 'wrong-subject'
  | 'wrong-profile'
  | 'untrusted'
  | 'not-valid-now';

export type EnrollCheck =
  | {
      readonly ok: true;
      readonly cert: CertInfo;
      /** Leaf up to (not including) the EST CA anchor. */
      readonly chain: readonly CertInfo[];
      /** The EST CA certificate the chain ends at. */
      readonly anchor: CertInfo;
    }
  | { readonly ok: false; readonly reason: EstRefusal; readonly detail: string };

export interface EnrollResponse {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

export interface EnrollExpectation {
  /** The key the request was made for: the issued certificate must carry exactly it. */
  readonly publicKey: KeyObject;
  /** The CN the issued certificate must carry (the device id, or the Edge CA name). */
  readonly commonName: string;
  /** `client`: a clientAuth leaf (identity). `edge-ca`: a CA that may sign. Default `client`. */
  readonly profile?: 'client' | 'edge-ca';
  /** The EST server's CA certificates (from /cacerts): the issued certificate must chain to them. */
  readonly caCerts: readonly CertInfo[];
  readonly now: number;
}

/**
 * Decides whether an enrollment answer is a certificate the gateway may use. Pure, fails closed:
 * anything but a 200 `application/pkcs7-mime` certs-only message holding a currently valid
 * clientAuth certificate for the requested key and CN, chaining to the EST CA, is refused.
 */
export function checkEnrollResponse(res: EnrollResponse, want: EnrollExpectation): EnrollCheck {
  const no = (reason: EstRefusal, detail: string): EnrollCheck => ({ ok: false, reason, detail });
  if (res.status !== 200) {
    return no('http-status', `EST server answered HTTP ${res.status}${serverSays(res.body)}`);
  }
  if (!isPkcs7Mime(res.contentType)) {
    return no(
      'wrong-content-type',
      `content-type is "${res.contentType ?? 'none'}", not application/pkcs7-mime`,
    );
  }
  let certs: CertInfo[];
  try {
    certs = decodeCertsOnly(res.body);
  } catch (err) {
    return no('malformed-pkcs7', (err as Error).message);
  }
  const spki = want.publicKey.export({ type: 'spki', format: 'der' });
  const cert = certs.find((c) => c.publicKey.export({ type: 'spki', format: 'der' }).equals(spki));
  if (!cert) return no('wrong-key', 'no certificate in the answer carries the requested public key');
  if (cert.subjectCn !== want.commonName) {
    return no('wrong-subject', `certificate CN "${cert.subjectCn ?? ''}" is not "${want.commonName}"`);
  }
  const edgeCa = want.profile === 'edge-ca';
  const signs = cert.isCa && (cert.keyUsage === undefined || cert.keyUsage.has('keyCertSign'));
  if (edgeCa !== signs) {
    return no(
      'wrong-profile',
      edgeCa ? 'certificate is not a CA that may sign' : 'certificate is a CA, not a leaf',
    );
  }
  const chain = validateChain({
    leaf: cert,
    intermediates: [...certs.filter((c) => c !== cert), ...want.caCerts],
    anchors: want.caCerts,
    at: want.now,
    ...(edgeCa ? {} : { purpose: EKU_CLIENT_AUTH }),
  });
  if (!chain.ok) {
    const reason =
      chain.reason === 'expired' || chain.reason === 'not-yet-valid' ? 'not-valid-now' : 'untrusted';
    return no(reason, chain.detail);
  }
  const anchor = chain.path.at(-1) ?? cert;
  return { ok: true, cert, chain: chain.path.slice(0, -1), anchor };
}

/** The server's own words on a refusal (its JSON `message`, or the text), short and printable. */
function serverSays(body: string): string {
  let text = body;
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') text = parsed.message;
  } catch {
    // Not JSON: the text itself.
  }
  const clean = text
    .replace(/[^\x20-\x7e]/g, ' ')
    .trim()
    .slice(0, 200);
  return clean ? `: ${clean}` : '';
}
