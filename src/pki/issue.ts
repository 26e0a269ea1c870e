import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../errors.ts';
import { type CertInfo, certInfoFromX509 } from './certificate.ts';
import { type KeyPair, publicKeyInfo } from './keys.ts';
import {
  assertCommonName,
  assertEdgeCaDiffersFromHostname,
  PROFILE_SPECS,
  type ProfileName,
  subjectAltNames,
} from './profiles.ts';
import { issuerPartsOf, profileExtensions } from './template.ts';
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
  /** Edge CA profile: the gateway hostname its CN must differ from. Default: not checked. */
  readonly gatewayHostname?: string;
}

/** Back-dating notBefore absorbs small clock differences between gateway and devices. */
export const CLOCK_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** Validates the request against its profile, builds the template and signs it. */
export async function issueCertificate(req: IssueRequest): Promise<CertInfo> {
  const spec = PROFILE_SPECS[req.profile];
  const now = req.now ?? new Date();
  assertRequest(req, spec.selfSigned, now);
  // Back-dated for clock skew, but never before the issuer's own start: a certificate is never valid
  // at an instant its issuer is not.
  const backdated = now.getTime() - CLOCK_SKEW_MS;
  const notBefore = new Date(req.issuer ? Math.max(backdated, req.issuer.cert.notBefore) : backdated);
  const wanted = now.getTime() + req.days * DAY_MS;
  const notAfter = new Date(req.issuer ? Math.min(wanted, req.issuer.cert.notAfter) : wanted);

  const subject = [{ CN: [req.commonName] }];
  const subjectKey = publicKeyInfo(req.subjectKeys.publicKey);
  const signer = req.issuer?.keys ?? req.subjectKeys;
  const issuerParts = req.issuer ? issuerPartsOf(req.issuer.cert) : undefined;
  const extensions: x509.Extension[] = [
    ...profileExtensions(
      req.profile,
      req.subjectKeys.type,
      spec.ca ? (req.pathLen ?? spec.defaultPathLen) : undefined,
    ),
    new x509.SubjectKeyIdentifierExtension(subjectKey.keyId, false),
  ];
  if (req.profile === 'server') {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(subjectAltNames(req.commonName, req.extraNames), false),
    );
  }
  extensions.push(
    issuerParts?.aki ??
      new x509.AuthorityKeyIdentifierExtension(publicKeyInfo(signer.publicKey).keyId, false),
  );

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: issuerParts ? issuerParts.name : subject,
    notBefore,
    notAfter,
    publicKey: subjectKey.spki,
    signingKey: signer.privateKey,
    signingAlgorithm:
      signer.type === 'ec-p256'
        ? { name: 'ECDSA', hash: 'SHA-256' }
        : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    extensions,
  });
  return certInfoFromX509(cert, `${req.profile} certificate`);
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
  if (req.profile === 'edge-ca' && req.gatewayHostname !== undefined) {
    assertEdgeCaDiffersFromHostname(req.commonName, req.gatewayHostname);
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
  if (req.profile === 'server') assertEdgeCaDiffersFromHostname(issuer.subjectCn, req.commonName);
}

/** Random positive 128-bit serial (RFC 5280 allows up to 20 octets; the top bit stays clear). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return bytes.toString('hex');
}
