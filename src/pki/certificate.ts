import { type KeyObject, X509Certificate } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GatehouseError } from '../errors.ts';
import { decodeCertificatesPem, encodePem } from './pem.ts';
import { thumbprint } from './thumbprint.ts';
import { x509 } from './webcrypto.ts';

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const EKU_ANY = '2.5.29.37.0';

/**
 * An immutable, parsed view of one certificate: the facts every Gatehouse decision needs, read once.
 * `native` is Node's OpenSSL-backed object, used for signature checks and TLS comparisons.
 */
export interface CertInfo {
  readonly der: Buffer;
  readonly pem: string;
  readonly native: X509Certificate;
  /**
   * The subject public key, made once: `native.publicKey` builds a new KeyObject on every read, and
   * chain validation needs the issuer's key on every verify.
   */
  readonly publicKey: KeyObject;
  readonly subject: string;
  readonly issuer: string;
  readonly subjectCn: string | undefined;
  readonly issuerCn: string | undefined;
  readonly serialHex: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly isCa: boolean;
  /** basicConstraints pathLenConstraint; undefined = unlimited. */
  readonly pathLen: number | undefined;
  /** keyUsage bits present, or undefined when the extension is absent (all usages allowed). */
  readonly keyUsage: ReadonlySet<KeyUsageName> | undefined;
  /** Extended key usage OIDs, or undefined when the extension is absent. */
  readonly extKeyUsage: readonly string[] | undefined;
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly selfIssued: boolean;
  /** OIDs of critical extensions Gatehouse does not interpret; RFC 5280 says such a certificate must be refused. */
  readonly unhandledCriticalExtensions: readonly string[];
  readonly sha256: string;
  readonly sha1: string;
  readonly keyAlgorithm: 'ec-p256' | 'rsa' | 'other';
}

export type KeyUsageName =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign'
  | 'encipherOnly'
  | 'decipherOnly';

/** Extensions whose meaning Gatehouse enforces (or that carry no constraint), so they may be critical. */
const HANDLED_EXTENSIONS: ReadonlySet<string> = new Set([
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.19', // basicConstraints
  '2.5.29.35', // authorityKeyIdentifier
  '2.5.29.37', // extKeyUsage
]);

const KEY_USAGE_BITS: ReadonlyArray<[KeyUsageName, number]> = [
  ['digitalSignature', x509.KeyUsageFlags.digitalSignature],
  ['nonRepudiation', x509.KeyUsageFlags.nonRepudiation],
  ['keyEncipherment', x509.KeyUsageFlags.keyEncipherment],
  ['dataEncipherment', x509.KeyUsageFlags.dataEncipherment],
  ['keyAgreement', x509.KeyUsageFlags.keyAgreement],
  ['keyCertSign', x509.KeyUsageFlags.keyCertSign],
  ['cRLSign', x509.KeyUsageFlags.cRLSign],
  ['encipherOnly', x509.KeyUsageFlags.encipherOnly],
  ['decipherOnly', x509.KeyUsageFlags.decipherOnly],
];

// Parsing the extensions costs far more than a TLS lookup; devices reconnect with the same
// certificate, so parsed views are kept by SHA-256 (bounded, so hostile churn cannot grow it).
const parsed = new LRUCache<string, CertInfo>({ max: 20_000 });

export interface CertificateParseOptions {
  /** Look up and keep the parsed view in the bounded cache. Default true; benchmarks pass false to measure a cold parse. */
  readonly cache?: boolean;
}

/** Parses one DER certificate. Throws GH_ERR_PEM naming `what` when it is not a certificate. */
export function parseCertificateDer(
  der: Buffer,
  what = 'certificate',
  options: CertificateParseOptions = {},
): CertInfo {
  return infoOf(der, what, options.cache ?? true, undefined);
}

/**
 * The parsed view of a certificate Node already holds (e.g. a TLS peer's): looked up by Node's
 * native SHA-256 fingerprint (the same digest as CertInfo.sha256, in `AB:CD:…` form), so a
 * reconnecting device is found without copying its DER out and hashing it again; parsed from its DER
 * on a miss. Throws GH_ERR_PEM naming `what` when it is not a certificate we can read.
 */
export function parseCertificateX509(x509: X509Certificate, what = 'certificate'): CertInfo {
  return parseCertificateFingerprinted(x509.fingerprint256, () => x509.raw, what);
}

/**
 * As parseCertificateX509, for a certificate known by its native SHA-256 fingerprint (`AB:CD:…`, as
 * tls.TLSSocket#getPeerCertificate() reports it) with its DER read only on a miss.
 */
export function parseCertificateFingerprinted(
  fingerprint256: string,
  der: () => Buffer,
  what = 'certificate',
): CertInfo {
  // The parse cache is keyed by the IoT Hub form of the same digest: the fingerprint without colons.
  return parsed.get(fingerprint256.replaceAll(':', '')) ?? parseCertificateDer(der(), what);
}

/** The view of a certificate just made by @peculiar/x509's generator, without parsing it a second time. */
export function certInfoFromX509(cert: x509.X509Certificate, what = 'certificate'): CertInfo {
  return infoOf(Buffer.from(cert.rawData), what, true, cert);
}

function infoOf(
  der: Buffer,
  what: string,
  useCache: boolean,
  preParsed: x509.X509Certificate | undefined,
): CertInfo {
  const sha256 = thumbprint(der, 'sha256');
  const cached = useCache ? parsed.get(sha256) : undefined;
  if (cached) return cached;
  let info: CertInfo;
  try {
    info = buildInfo(der, sha256, preParsed);
  } catch (err) {
    throw new GatehouseError('GH_ERR_PEM', `${what}: not a valid X.509 certificate`, { cause: err });
  }
  if (useCache) parsed.set(sha256, info);
  return info;
}

/** Parses every certificate of a PEM text, in order (leaf first, as TLS sends them). */
export function parseCertificatesPem(pem: string, what = 'certificate file'): CertInfo[] {
  return decodeCertificatesPem(pem, what).map((der, i) =>
    parseCertificateDer(der, `${what} (certificate ${i + 1})`),
  );
}

/** Parses a PEM text that must hold exactly one certificate first; the rest are ignored. */
export function parseCertificatePem(pem: string, what = 'certificate file'): CertInfo {
  const [first] = parseCertificatesPem(pem, what);
  if (!first) throw new GatehouseError('GH_ERR_PEM', `${what}: no certificate`);
  return first;
}

function buildInfo(der: Buffer, sha256: string, preParsed: x509.X509Certificate | undefined): CertInfo {
  const native = new X509Certificate(der);
  const cert = preParsed ?? new x509.X509Certificate(der);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const keyUsage = ku
    ? new Set(KEY_USAGE_BITS.filter(([, bit]) => (ku.usages & bit) !== 0).map(([n]) => n))
    : undefined;
  const names = san?.names.items ?? [];
  const publicKey = native.publicKey;
  const keyType = publicKey.asymmetricKeyType;
  const curve = publicKey.asymmetricKeyDetails?.namedCurve;
  return Object.freeze({
    der,
    pem: encodePem('CERTIFICATE', der),
    native,
    publicKey,
    subject: cert.subject,
    issuer: cert.issuer,
    subjectCn: cert.subjectName.getField('CN')[0],
    issuerCn: cert.issuerName.getField('CN')[0],
    serialHex: cert.serialNumber.toUpperCase(),
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    isCa: bc?.ca === true,
    pathLen: bc?.ca ? bc.pathLength : undefined,
    keyUsage,
    extKeyUsage: eku ? Array.from(eku.usages, String) : undefined,
    subjectKeyId: ski?.keyId.toUpperCase(),
    authorityKeyId: aki?.keyId?.toUpperCase(),
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === 'ip').map((n) => n.value),
    selfIssued: cert.subject === cert.issuer,
    unhandledCriticalExtensions: [...cert.extensions]
      .filter((e) => e.critical && !HANDLED_EXTENSIONS.has(e.type))
      .map((e) => e.type),
    sha256,
    sha1: thumbprint(der, 'sha1'),
    keyAlgorithm:
      keyType === 'ec' && curve === 'prime256v1' ? 'ec-p256' : keyType === 'rsa' ? 'rsa' : 'other',
  });
}
