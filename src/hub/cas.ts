import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../errors.ts';
import { type CertInfo, parseCertificatePem } from '../pki/certificate.ts';
import { checkCaCertificate, checkProofOfPossession } from './ca-proof.ts';
import type { HubDb } from './store.ts';

/** IoT Hub's CA names: letters, digits and `- . _`, at most 128. */
const CA_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface CaSummary {
  readonly name: string;
  readonly thumbprint: string;
  readonly verified: boolean;
  readonly subject: string;
  readonly notAfter: string;
}

export interface VerifiedCa {
  readonly name: string;
  readonly cert: CertInfo;
}

interface CaRow {
  name: string;
  thumbprint: string;
  certificate_pem: string;
  verification_code: string;
  verified: number;
}

/**
 * Device CA certificates and their proof of possession. Only verified CAs are handed to
 * authentication; the verified list is cached and rebuilt on every change.
 */
export class CaRegistry {
  private readonly db: HubDb;
  private verifiedCache: readonly VerifiedCa[] | undefined;
  private verifiedCertCache: readonly CertInfo[] | undefined;

  constructor(db: HubDb) {
    this.db = db;
  }

  upload(
    name: string,
    certPem: string,
    now = Date.now(),
  ): { name: string; verificationCode: string; verified: false } {
    assertCaName(name);
    const cert = parseCertificatePem(certPem, `CA "${name}"`);
    const check = checkCaCertificate(cert, now);
    if (!check.ok) {
      throw new GatehouseError('GH_ERR_INPUT', `CA "${name}": ${check.detail}`, {
        details: { reason: check.reason },
      });
    }
    if (this.row(name)) throw new GatehouseError('GH_ERR_CONFLICT', `a CA named "${name}" already exists`);
    const same = this.db.prepare('SELECT name FROM cas WHERE thumbprint = ?').get(cert.sha256) as
      | { name: string }
      | undefined;
    if (same) {
      throw new GatehouseError('GH_ERR_CONFLICT', `this certificate is already uploaded as "${same.name}"`);
    }
    // 32 hex characters: unguessable, and short enough for a certificate CN (at most 64).
    const verificationCode = randomBytes(16).toString('hex').toUpperCase();
    this.db
      .prepare(
        'INSERT INTO cas (name, thumbprint, certificate_pem, verification_code, verified, uploaded_at) VALUES (?, ?, ?, ?, 0, ?)',
      )
      .run(name, cert.sha256, cert.pem, verificationCode, now);
    return { name, verificationCode, verified: false };
  }

  verify(name: string, verificationPem: string, now = Date.now()): { name: string; verified: true } {
    assertCaName(name);
    const row = this.row(name);
    if (!row) throw new GatehouseError('GH_ERR_NOT_FOUND', `no CA named "${name}"`);
    const verification = parseCertificatePem(verificationPem, 'verification certificate');
    const decision = checkProofOfPossession({
      ca: parseCertificatePem(row.certificate_pem, `stored CA "${name}"`),
      verification,
      code: row.verification_code,
      now,
    });
    if (!decision.ok) {
      throw new GatehouseError('GH_ERR_VERIFICATION', `CA "${name}": ${decision.detail}`, {
        details: { reason: decision.reason },
      });
    }
    if (row.verified !== 1) {
      this.db.prepare('UPDATE cas SET verified = 1, verified_at = ? WHERE name = ?').run(now, name);
      this.verifiedCache = undefined;
      this.verifiedCertCache = undefined;
    }
    return { name, verified: true };
  }

  list(): CaSummary[] {
    return this.rows().map((row) => {
      const cert = parseCertificatePem(row.certificate_pem, `stored CA "${row.name}"`);
      return {
        name: row.name,
        thumbprint: row.thumbprint,
        verified: row.verified === 1,
        subject: cert.subject,
        notAfter: new Date(cert.notAfter).toISOString(),
      };
    });
  }

  /** The CAs that count for CA authentication (uploaded and verified). */
  verified(): readonly VerifiedCa[] {
    if (!this.verifiedCache) {
      this.verifiedCache = Object.freeze(
        this.rows()
          .filter((r) => r.verified === 1)
          .map((r) => ({
            name: r.name,
            cert: parseCertificatePem(r.certificate_pem, `stored CA "${r.name}"`),
          })),
      );
    }
    return this.verifiedCache;
  }

  /** The verified CAs' certificates, as authenticateDevice takes them (cached; runs on every CONNECT). */
  verifiedCerts(): readonly CertInfo[] {
    this.verifiedCertCache ??= Object.freeze(this.verified().map((v) => v.cert));
    return this.verifiedCertCache;
  }

  private row(name: string): CaRow | undefined {
    return this.db.prepare('SELECT * FROM cas WHERE name = ?').get(name) as CaRow | undefined;
  }

  private rows(): CaRow[] {
    return this.db.prepare('SELECT * FROM cas ORDER BY name').all() as CaRow[];
  }
}

function assertCaName(name: string): void {
  if (!CA_NAME.test(name)) {
    throw new GatehouseError(
      'GH_ERR_INPUT',
      `"${name.slice(0, 40)}" is not a valid CA name (letters, digits, - . _; at most 128)`,
    );
  }
}
