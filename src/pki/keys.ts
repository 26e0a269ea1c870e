import type { webcrypto as wc } from 'node:crypto';
import { createHash, createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';
import { GatehouseError } from '../errors.ts';
import type { CertInfo } from './certificate.ts';
import { encodePem } from './pem.ts';
import { webcrypto } from './webcrypto.ts';

type CryptoKey = wc.CryptoKey;

export const KEY_TYPES = ['ec-p256', 'rsa-2048'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** A key pair in WebCrypto form (for signing certificates) plus its PKCS#8 PEM. */
export interface KeyPair {
  readonly type: KeyType;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

const ALGORITHMS: Record<KeyType, wc.RsaHashedKeyGenParams | wc.EcKeyGenParams> = {
  'ec-p256': { name: 'ECDSA', namedCurve: 'P-256' },
  'rsa-2048': {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
};

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

export async function generateKeyPair(type: KeyType = 'ec-p256'): Promise<KeyPair> {
  const pair = (await webcrypto.subtle.generateKey(ALGORITHMS[type], true, [
    'sign',
    'verify',
  ])) as wc.CryptoKeyPair;
  return { type, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/** A public key as a certificate carries it: SubjectPublicKeyInfo DER and its key identifier. */
export interface PublicKeyInfo {
  readonly spki: Buffer;
  /** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits, lowercase hex. */
  readonly keyId: string;
}

/**
 * Computed synchronously through Node's KeyObject: the WebCrypto route (exportKey + digest) costs
 * two thread-pool round trips per certificate. The subjectPublicKey bits are the uncompressed EC
 * point (0x04 ‖ x ‖ y) or the PKCS#1 RSAPublicKey, so no ASN.1 is taken apart by hand.
 */
export function publicKeyInfo(key: CryptoKey): PublicKeyInfo {
  const ko = KeyObject.from(key);
  const spki = ko.export({ type: 'spki', format: 'der' });
  let bits: Buffer;
  if (ko.asymmetricKeyType === 'rsa') {
    bits = ko.export({ type: 'pkcs1', format: 'der' });
  } else {
    const jwk = ko.export({ format: 'jwk' });
    bits = Buffer.concat([
      Buffer.from([0x04]),
      Buffer.from(jwk.x ?? '', 'base64url'),
      Buffer.from(jwk.y ?? '', 'base64url'),
    ]);
  }
  return { spki, keyId: createHash('sha1').update(bits).digest('hex') };
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return encodePem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

/**
 * Reads a private key PEM (PKCS#8, SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY") into a signing
 * key pair. Only P-256 and RSA keys are accepted. The error never quotes the key.
 */
export async function importPrivateKeyPem(pem: string, what = 'private key'): Promise<KeyPair> {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch (err) {
    throw new GatehouseError('GH_ERR_PEM', `${what}: not a readable private key`, { cause: stripKey(err) });
  }
  const type = keyTypeOf(keyObject);
  if (!type) throw new GatehouseError('GH_ERR_PEM', `${what}: only EC P-256 and RSA keys are supported`);
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(keyObject).export({ type: 'spki', format: 'der' });
  const alg = type === 'ec-p256' ? ALGORITHMS['ec-p256'] : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, alg, true, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, alg, true, ['verify']);
  return { type, privateKey, publicKey };
}

function keyTypeOf(key: KeyObject): KeyType | undefined {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'ec-p256';
  // Any RSA size is accepted for existing keys; new ones are 2048-bit.
  if (key.asymmetricKeyType === 'rsa') return 'rsa-2048';
  return undefined;
}

/** True when `keyPem` is the private half of the certificate's public key. */
export function keyMatchesCertificate(keyPem: string, cert: CertInfo): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    const fromCert = cert.publicKey.export({ type: 'spki', format: 'der' });
    return fromKey.equals(fromCert);
  } catch {
    return false;
  }
}

/** Refuses an unreadable key (GH_ERR_PEM) or one that is not the certificate's (GH_ERR_KEY_MISMATCH). */
export function assertKeyMatchesCertificate(keyPem: string, cert: CertInfo, what: string): void {
  try {
    createPrivateKey(keyPem);
  } catch (err) {
    throw new GatehouseError('GH_ERR_PEM', `${what}: not a readable private key`, { cause: stripKey(err) });
  }
  if (!keyMatchesCertificate(keyPem, cert)) {
    throw new GatehouseError(
      'GH_ERR_KEY_MISMATCH',
      `${what}: the private key does not match the certificate`,
      {
        details: { subject: cert.subject, sha256: cert.sha256 },
      },
    );
  }
}

// OpenSSL's decoder errors can echo input; keep only the message class, never the key bytes.
function stripKey(err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return new Error(code ? `key decoder error ${code}` : 'key decoder error');
}
