import { GatehouseError } from '../errors.ts';
import type { ScopeCa } from '../iothub/scope-api.ts';
import { type CertInfo, parseCertificatesPem } from '../pki/index.ts';

/**
 * Parses the verified CA list upstream sends. Each entry must be exactly one CA certificate whose
 * SHA-256 is the thumbprint given next to it; anything else means the response is damaged or
 * hostile, and the whole list is refused rather than partly trusted.
 */
export function parseVerifiedCas(cas: readonly ScopeCa[]): CertInfo[] {
  return cas.map((ca) => {
    const what = `verified CA "${ca.name}"`;
    let certs: CertInfo[];
    try {
      certs = parseCertificatesPem(ca.certificatePem, what);
    } catch (err) {
      throw new GatehouseError('GH_ERR_PROTOCOL', `${what}: not a PEM certificate`, { cause: err });
    }
    const [cert] = certs;
    if (!cert || certs.length !== 1) {
      throw new GatehouseError('GH_ERR_PROTOCOL', `${what}: must hold exactly one certificate`);
    }
    if (cert.sha256 !== ca.thumbprint) {
      throw new GatehouseError('GH_ERR_PROTOCOL', `${what}: thumbprint does not match the certificate`);
    }
    if (!cert.isCa) throw new GatehouseError('GH_ERR_PROTOCOL', `${what}: not a CA certificate`);
    return cert;
  });
}

/** Order-independent identity of a CA list, to tell whether it changed. */
export function casKey(cas: readonly ScopeCa[]): string {
  return cas
    .map((ca) => `${ca.thumbprint}\0${ca.name}`)
    .sort()
    .join('\n');
}
