import { createPrivateKey } from 'node:crypto';
import forge from 'node-forge';
import { GatehouseError } from '../errors.ts';
import type { CertInfo } from './certificate.ts';
import { assertKeyMatchesCertificate } from './keys.ts';

export interface Pkcs12Options {
  /** The leaf's private key, PEM (PKCS#8, SEC1 or PKCS#1). */
  readonly keyPem: string;
  /** Leaf first, then the intermediates a peer needs (the root is usually left out). */
  readonly chain: readonly CertInfo[];
  /** Printable ASCII, 1–128 characters: the one password form every PKCS#12 reader agrees on. */
  readonly password: string;
  /** friendlyName of the key and leaf. Default: the leaf's CN. */
  readonly friendlyName?: string;
}

/** OpenSSL 3's own defaults for `openssl pkcs12 -export`. */
const ITERATIONS = 2048;
const SALT_BYTES = 16;

/**
 * Builds a password-protected PFX (RFC 7292) holding the key and chain: key in a PKCS#8 shrouded
 * key bag (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), certificates in a plain safe, HMAC-SHA256 MAC.
 *
 * node-forge's own `toPkcs12Asn1` needs forge key and certificate objects, which forge can only
 * make for RSA. The bags here are built from the DER instead, so EC P-256 keys work as well;
 * forge supplies the ASN.1 encoder, the PBES2 encryption and the PKCS#12 MAC key derivation.
 */
export function exportPkcs12(opts: Pkcs12Options): Buffer {
  const leaf = opts.chain[0];
  if (!leaf) throw new GatehouseError('GH_ERR_INPUT', 'PKCS#12 export needs at least the leaf certificate');
  assertPassword(opts.password);
  assertKeyMatchesCertificate(opts.keyPem, leaf, 'PKCS#12 export');
  const { asn1, pki } = forge;

  const attributes = bagAttributes(
    forge.md.sha1.create().update(binary(leaf.der)).digest().getBytes(),
    opts.friendlyName ?? leaf.subjectCn ?? 'certificate',
  );
  const certBags = opts.chain.map((cert, i) =>
    safeBag(
      pki.oids.certBag as string,
      seq([oid(pki.oids.x509Certificate as string), explicit0(octets(binary(cert.der)))]),
      i === 0 ? attributes : undefined,
    ),
  );
  const pkcs8 = asn1.fromDer(binary(pkcs8Der(opts.keyPem)));
  // PBKDF2 takes the password as bytes: UTF-8, as OpenSSL reads it.
  const shrouded = pki.encryptPrivateKeyInfo(pkcs8, forge.util.encodeUtf8(opts.password), {
    algorithm: 'aes256',
    prfAlgorithm: 'sha256',
    count: ITERATIONS,
    saltSize: SALT_BYTES,
  });
  const keyBag = safeBag(pki.oids.pkcs8ShroudedKeyBag as string, shrouded, attributes);

  const authSafe = seq([dataContent(seq(certBags)), dataContent(seq([keyBag]))]);
  const authSafeDer = asn1.toDer(authSafe).getBytes();
  return Buffer.from(
    asn1.toDer(seq([integer(3), dataContent(authSafe), macData(authSafeDer, opts.password)])).getBytes(),
    'binary',
  );
}

function macData(content: string, password: string): forge.asn1.Asn1 {
  const salt = forge.random.getBytesSync(SALT_BYTES);
  // PKCS#12 key derivation (RFC 7292 B.2, ID 3 = MAC key); forge turns the password into BMPString.
  const key = forge.pkcs12.generateKey(
    password,
    forge.util.createBuffer(salt),
    3,
    ITERATIONS,
    32,
    forge.md.sha256.create(),
  );
  const hmac = forge.hmac.create();
  hmac.start(forge.md.sha256.create(), key);
  hmac.update(content);
  const algorithm = seq([
    oid(forge.pki.oids.sha256 as string),
    forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.NULL, false, ''),
  ]);
  return seq([seq([algorithm, octets(hmac.digest().getBytes())]), octets(salt), integer(ITERATIONS)]);
}

function bagAttributes(localKeyId: string, friendlyName: string): forge.asn1.Asn1 {
  const { asn1, pki } = forge;
  const attribute = (type: string, value: forge.asn1.Asn1) =>
    seq([oid(type), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [value])]);
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
    attribute(pki.oids.localKeyId as string, octets(localKeyId)),
    attribute(
      pki.oids.friendlyName as string,
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, friendlyName),
    ),
  ]);
}

function safeBag(type: string, value: forge.asn1.Asn1, attributes: forge.asn1.Asn1 | undefined) {
  return seq([oid(type), explicit0(value), ...(attributes ? [attributes] : [])]);
}

/** PKCS#7 ContentInfo of type `data` wrapping the DER of `inner`. */
function dataContent(inner: forge.asn1.Asn1): forge.asn1.Asn1 {
  return seq([oid(forge.pki.oids.data as string), explicit0(octets(forge.asn1.toDer(inner).getBytes()))]);
}

const seq = (items: forge.asn1.Asn1[]) =>
  forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SEQUENCE, true, items);
const oid = (id: string) =>
  forge.asn1.create(
    forge.asn1.Class.UNIVERSAL,
    forge.asn1.Type.OID,
    false,
    forge.asn1.oidToDer(id).getBytes(),
  );
const octets = (bytes: string) =>
  forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, bytes);
const integer = (n: number) =>
  forge.asn1.create(
    forge.asn1.Class.UNIVERSAL,
    forge.asn1.Type.INTEGER,
    false,
    forge.asn1.integerToDer(n).getBytes(),
  );
const explicit0 = (inner: forge.asn1.Asn1) =>
  forge.asn1.create(forge.asn1.Class.CONTEXT_SPECIFIC, 0, true, [inner]);
const binary = (bytes: Uint8Array): string => Buffer.from(bytes).toString('binary');

function pkcs8Der(keyPem: string): Buffer {
  try {
    return createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  } catch {
    // The decoder's message may quote the input; say only what failed.
    throw new GatehouseError('GH_ERR_PEM', 'PKCS#12 export: not a readable private key');
  }
}

function assertPassword(password: string): void {
  if (!/^[\x20-\x7e]{1,128}$/.test(password)) {
    throw new GatehouseError('GH_ERR_INPUT', 'the PKCS#12 password must be 1–128 printable ASCII characters');
  }
}
