import { createPublicKey, type KeyObject } from 'node:crypto';
import { GatehouseError } from '../errors.ts';
import type { KeyPair } from '../pki/index.ts';
import { webcrypto, x509 } from '../pki/webcrypto.ts';

/** A PKCS#10 request is a few hundred bytes; anything far larger is refused unread. */
const MAX_CSR_BYTES = 16 * 1024;

/** A certificate request that verified: who it names and the key it proves possession of. */
export interface ParsedCsr {
  readonly commonName: string | undefined;
  /** SubjectPublicKeyInfo DER. */
  readonly spki: Buffer;
  readonly publicKey: KeyObject;
  readonly keyType: 'ec-p256' | 'rsa-2048';
}

/** A PKCS#10 request for `commonName`, signed with `keys`, as base64 DER (RFC 7030's application/pkcs10 body). */
export async function createCsr(keys: KeyPair, commonName: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // JSON form, so a CN with commas or equals signs is never re-parsed as a distinguished name.
    name: [{ CN: [commonName] }],
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey },
    signingAlgorithm:
      keys.type === 'ec-p256'
        ? { name: 'ECDSA', hash: 'SHA-256' }
        : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  });
  return Buffer.from(csr.rawData).toString('base64');
}

/**
 * Reads a base64 (or PEM) PKCS#10 body and checks its self-signature (proof of possession of the key).
 * Only EC P-256 and RSA keys of at least 2048 bits are accepted. Refusals are GH_ERR_INPUT.
 */
export async function parseCsr(body: string): Promise<ParsedCsr> {
  const compact = body
    .replace(/-----(BEGIN|END) (NEW )?CERTIFICATE REQUEST-----/g, '')
    .replace(/[\r\n\t ]/g, '');
  if (
    compact.length === 0 ||
    compact.length > (MAX_CSR_BYTES * 4) / 3 ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)
  ) {
    throw new GatehouseError('GH_ERR_INPUT', 'certificate request: body is not a base64 PKCS#10 request');
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(Buffer.from(compact, 'base64'));
  } catch (err) {
    throw new GatehouseError('GH_ERR_INPUT', 'certificate request: not a PKCS#10 request', { cause: err });
  }
  const spki = Buffer.from(csr.publicKey.rawData);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw new GatehouseError('GH_ERR_INPUT', 'certificate request: unreadable public key', { cause: err });
  }
  const keyType = supportedKeyType(publicKey);
  let verified = false;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) {
    throw new GatehouseError(
      'GH_ERR_INPUT',
      'certificate request: signature does not verify (no proof of possession)',
    );
  }
  const cn = csr.subjectName.getField('CN');
  if (cn.length > 1)
    throw new GatehouseError('GH_ERR_INPUT', 'certificate request: more than one common name');
  return { commonName: cn[0], spki, publicKey, keyType };
}

function supportedKeyType(key: KeyObject): 'ec-p256' | 'rsa-2048' {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'ec-p256';
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048)
    return 'rsa-2048';
  throw new GatehouseError(
    'GH_ERR_INPUT',
    'certificate request: only EC P-256 and RSA (2048+) keys are accepted',
  );
}

/**
 * The request's public key in the shape issueCertificate takes. A CA-issued certificate is signed by
 * its issuer, so only `publicKey` and `type` are read; `privateKey` is the public key again, which
 * WebCrypto refuses to sign with — misuse fails closed instead of signing with the wrong key.
 */
export async function csrSubjectKeys(csr: ParsedCsr): Promise<KeyPair> {
  const alg =
    csr.keyType === 'ec-p256'
      ? { name: 'ECDSA', namedCurve: 'P-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const publicKey = await webcrypto.subtle.importKey('spki', csr.spki, alg, true, ['verify']);
  return { type: csr.keyType, publicKey, privateKey: publicKey };
}
