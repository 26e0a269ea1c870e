import { type CertInfo, EKU_ANY, EKU_CLIENT_AUTH, EKU_SERVER_AUTH } from './certificate.ts';
import { toOpensslForm } from './thumbprint.ts';

/** What `gatehouse certs inspect` shows of one certificate; plain data, stable for `--json`. */
export interface CertificateDescription {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly notBefore: string;
  readonly notAfter: string;
  readonly status: 'valid' | 'expired' | 'not-yet-valid';
  readonly isCa: boolean;
  /** null when the CA has no pathLen limit or the certificate is not a CA. */
  readonly pathLen: number | null;
  readonly selfSigned: boolean;
  readonly keyAlgorithm: CertInfo['keyAlgorithm'];
  readonly keyUsage: readonly string[];
  readonly extendedKeyUsage: readonly string[];
  readonly thumbprints: {
    readonly sha256: string;
    readonly sha1: string;
    readonly sha256Openssl: string;
    readonly sha1Openssl: string;
  };
}

const EKU_NAMES: Readonly<Record<string, string>> = {
  [EKU_SERVER_AUTH]: 'serverAuth',
  [EKU_CLIENT_AUTH]: 'clientAuth',
  [EKU_ANY]: 'anyExtendedKeyUsage',
};

export function describeCertificate(cert: CertInfo, at: number): CertificateDescription {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serial: cert.serialHex,
    dnsNames: cert.dnsNames,
    ipAddresses: cert.ipAddresses,
    notBefore: new Date(cert.notBefore).toISOString(),
    notAfter: new Date(cert.notAfter).toISOString(),
    status: at < cert.notBefore ? 'not-yet-valid' : at > cert.notAfter ? 'expired' : 'valid',
    isCa: cert.isCa,
    pathLen: cert.pathLen ?? null,
    selfSigned: cert.selfIssued && safeVerify(cert),
    keyAlgorithm: cert.keyAlgorithm,
    keyUsage: cert.keyUsage ? [...cert.keyUsage] : [],
    extendedKeyUsage: (cert.extKeyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid),
    thumbprints: {
      sha256: cert.sha256,
      sha1: cert.sha1,
      sha256Openssl: toOpensslForm(cert.sha256),
      sha1Openssl: toOpensslForm(cert.sha1),
    },
  };
}

/** The text form: one `label: value` line per fact, aligned. */
export function formatDescription(d: CertificateDescription): string[] {
  const sans = [...d.dnsNames.map((n) => `DNS:${n}`), ...d.ipAddresses.map((n) => `IP:${n}`)];
  const rows: Array<[string, string]> = [
    ['subject', d.subject],
    ['issuer', d.issuer],
    ['serial', d.serial],
    ['SANs', sans.length > 0 ? sans.join(', ') : '(none)'],
    ['valid from', d.notBefore],
    ['valid until', `${d.notAfter} (${d.status})`],
    ['CA', d.isCa ? `yes${d.pathLen === null ? '' : `, pathLen ${d.pathLen}`}` : 'no'],
    ['self-signed', d.selfSigned ? 'yes' : 'no'],
    ['key', d.keyAlgorithm],
    ['key usage', d.keyUsage.join(', ') || '(any)'],
    ['extended key usage', d.extendedKeyUsage.join(', ') || '(any)'],
    ['SHA-256', d.thumbprints.sha256],
    ['SHA-1', d.thumbprints.sha1],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${value}`);
}

function safeVerify(cert: CertInfo): boolean {
  try {
    return cert.native.verify(cert.publicKey);
  } catch {
    return false;
  }
}
