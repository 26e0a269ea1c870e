import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../errors.ts';
import { type CertInfo, parseCertificateDer } from './certificate.ts';
import type { KeyPair } from './keys.ts';
import {
  assertCommonName,
  keyUsagesFor,
  PROFILE_SPECS,
  type ProfileName,
  subjectAltNames,
} from './profiles.ts';
import { x509 } from './webcrypto.ts';

/** A CA able to sign: its parsed certificate and its key pair. */
export interface Issuer {
  readonly cert: CertInfo;
  readonly keys: KeyPair;
}

export interface IssueRequest {
  readonly profile: ProfileName;
  /** Subject CN: CA name, hostname (server), device id (client, device) or verification code. */
  readonly commonName: string;
  /** The subject's key pair; only the public key goes into the certificate (self-signed profiles sign with it). */
  readonly subjectKeys: KeyPair;
  /** The signing CA. Required for every profile except `root` and `self-signed-device`. */
  readonly issuer?: Issuer;
  /** Lifetime in days, 1–36500. The result never outlives its issuer. */
  readonly days: number;
  /** Issuance instant. Default: now. Tests pass fixed instants. */
  readonly now?: Date;
  /** Server profile: names added to the SAN after the hostname (DNS or IP, parsed). Default: none. */
  readonly extraNames?: readonly string[];
  /** CA profiles: basicConstraints pathLen. Default: the profile's (root unlimited, intermediate 1, Edge CA 0). */
  readonly pathLen?: number;
}

/** Back-dating notBefore absorbs small clock differences between gateway and devices. */
export const CLOCK_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** Validates the request against its profile, builds the template and signs it. */
export async function issueCertificate(req: IssueRequest): Promise<CertInfo> {
  const spec = PROFILE_SPECS[req.profile];
  const now = req.now ?? new Date();
  assertRequest(req, spec.selfSigned, now);
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  const wanted = now.getTime() + req.days * DAY_MS;
  const notAfter = new Date(req.issuer ? Math.min(wanted, req.issuer.cert.notAfter) : wanted);

  const subject = [{ CN: [req.commonName] }];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(
      spec.ca,
      spec.ca ? (req.pathLen ?? spec.defaultPathLen) : undefined,
      true,
    ),
    new x509.KeyUsagesExtension(keyUsagesFor(spec, req.subjectKeys.type), true),
    await x509.SubjectKeyIdentifierExtension.create(req.subjectKeys.publicKey),
  ];
  if (spec.eku) extensions.push(new x509.ExtendedKeyUsageExtension([...spec.eku], false));
  if (req.profile === 'server') {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(subjectAltNames(req.commonName, req.extraNames), false),
    );
  }
  const signer = req.issuer?.keys ?? req.subjectKeys;
  const issuerSki = req.issuer ? req.issuer.cert.subjectKeyId : undefined;
  extensions.push(
    issuerSki
      ? new x509.AuthorityKeyIdentifierExtension(issuerSki.toLowerCase(), false)
      : await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey, false),
  );

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: req.issuer ? req.issuer.cert.subject : subject,
    notBefore,
    notAfter,
    publicKey: req.subjectKeys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm:
      signer.type === 'ec-p256'
        ? { name: 'ECDSA', hash: 'SHA-256' }
        : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    extensions,
  });
  return parseCertificateDer(Buffer.from(cert.rawData), `${req.profile} certificate`);
}

function assertRequest(req: IssueRequest, selfSigned: boolean, now: Date): void {
  assertCommonName(req.commonName, `${req.profile} common name`);
  if (!Number.isInteger(req.days) || req.days < 1 || req.days > 36_500) {
    throw new GatehouseError(
      'GH_ERR_PROFILE',
      `days must be a whole number from 1 to 36500, got ${req.days}`,
    );
  }
  if (req.pathLen !== undefined && (!Number.isInteger(req.pathLen) || req.pathLen < 0 || req.pathLen > 10)) {
    throw new GatehouseError(
      'GH_ERR_PROFILE',
      `pathLen must be a whole number from 0 to 10, got ${req.pathLen}`,
    );
  }
  if (selfSigned) {
    if (req.issuer)
      throw new GatehouseError(
        'GH_ERR_PROFILE',
        `a ${req.profile} certificate is self-signed and takes no issuer`,
      );
    return;
  }
  const issuer = req.issuer?.cert;
  if (!issuer) throw new GatehouseError('GH_ERR_ISSUER', `a ${req.profile} certificate needs an issuing CA`);
  if (!issuer.isCa || (issuer.keyUsage && !issuer.keyUsage.has('keyCertSign'))) {
    throw new GatehouseError(
      'GH_ERR_ISSUER',
      `issuer "${issuer.subjectCn ?? issuer.subject}" is not a CA that may sign certificates`,
    );
  }
  const t = now.getTime();
  if (t < issuer.notBefore || t > issuer.notAfter) {
    throw new GatehouseError(
      'GH_ERR_ISSUER',
      `issuer "${issuer.subjectCn ?? issuer.subject}" is not valid at ${now.toISOString()}`,
    );
  }
  if (PROFILE_SPECS[req.profile].ca && issuer.pathLen === 0) {
    throw new GatehouseError(
      'GH_ERR_ISSUER',
      `issuer "${issuer.subjectCn ?? issuer.subject}" has pathLen 0 and may sign only leaf certificates`,
    );
  }
  if (req.profile === 'server' && issuer.subjectCn?.toLowerCase() === req.commonName.toLowerCase()) {
    throw new GatehouseError(
      'GH_ERR_PROFILE',
      `the Edge CA common name must differ from the hostname "${req.commonName}"`,
    );
  }
}

/** Random positive 128-bit serial (RFC 5280 allows up to 20 octets; the top bit stays clear). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return bytes.toString('hex');
}
