import type { CertInfo } from './certificate.ts';
import type { KeyType } from './keys.ts';
import { keyUsagesFor, PROFILE_SPECS, type ProfileName } from './profiles.ts';
import { x509 } from './webcrypto.ts';

/*
 * Reusable parts of certificate templates. Encoding through @peculiar/x509's ASN.1 schema layer costs
 * tens of microseconds per part, and these parts are the same for every certificate of a profile or
 * of an issuer, so each is built once. Extensions are only read by the generator, never changed.
 */

const profileParts = new Map<string, readonly x509.Extension[]>();

/** basicConstraints, keyUsage and extKeyUsage of a profile (keyUsage depends on the key type). */
export function profileExtensions(
  profile: ProfileName,
  keyType: KeyType,
  pathLen: number | undefined,
): readonly x509.Extension[] {
  // pathLen is 0–10 or undefined, so the map holds at most a few hundred entries.
  const key = `${profile}/${keyType}/${pathLen ?? '-'}`;
  let parts = profileParts.get(key);
  if (!parts) {
    const spec = PROFILE_SPECS[profile];
    parts = Object.freeze([
      new x509.BasicConstraintsExtension(spec.ca, spec.ca ? pathLen : undefined, true),
      new x509.KeyUsagesExtension(keyUsagesFor(spec, keyType), true),
      ...(spec.eku ? [new x509.ExtendedKeyUsageExtension([...spec.eku], false)] : []),
    ]);
    profileParts.set(key, parts);
  }
  return parts;
}

export interface IssuerParts {
  /** The issuer's subject as encoded in its own certificate, not re-encoded from text. */
  readonly name: x509.Name;
  /** authorityKeyIdentifier pointing at the issuer's SKI; undefined when it has none. */
  readonly aki: x509.AuthorityKeyIdentifierExtension | undefined;
}

const issuerParts = new WeakMap<CertInfo, IssuerParts>();

/**
 * Some TLS clients (embedded stacks among them) chain names by comparing bytes, so a child's issuer
 * field copies the issuer's subject encoding (PrintableString vs UTF8String…) rather than re-encoding it.
 */
export function issuerPartsOf(issuer: CertInfo): IssuerParts {
  let parts = issuerParts.get(issuer);
  if (!parts) {
    parts = {
      name: new x509.X509Certificate(issuer.der).subjectName,
      aki: issuer.subjectKeyId
        ? new x509.AuthorityKeyIdentifierExtension(issuer.subjectKeyId.toLowerCase(), false)
        : undefined,
    };
    issuerParts.set(issuer, parts);
  }
  return parts;
}
