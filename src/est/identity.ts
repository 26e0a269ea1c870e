import { existsSync } from 'node:fs';
import { EST_IDENTITY_NAME } from '../config/defaults.ts';
import type { EstConfig } from '../config/types.ts';
import { renewalTime, retryDelay } from '../edge-ca/lifetime.ts';
import { GatehouseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import {
  type Credential,
  credentialPaths,
  generateKeyPair,
  importPrivateKeyPem,
  type KeyPair,
  loadCredential,
  loadCredentialFiles,
  writeCredential,
} from '../pki/index.ts';
import type { EstClient, EstClientAuth } from './client.ts';
import { enrollOverEst, estClientFromConfig } from './enroll.ts';

export interface EstIdentityOptions {
  readonly est: EstConfig;
  readonly deviceId: string;
  /** DATA/certs: where `est-identity.{cert,key,chain}.pem` are kept (key 0600). */
  readonly dir: string;
  readonly log: Logger;
  readonly now?: () => number;
  /** Injected client (tests); default one built from `est.url` and `est.trustedCerts`. */
  readonly client?: EstClient;
}

/** The identity the upstream link presents: leaf + chain PEM and its key. */
export interface EstIdentity {
  readonly cred: Credential;
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * The gateway's identity certificate when `[cert_issuance.est]` is set. First start: enrolls
 * (`simpleenroll`) with the bootstrap certificate. Later: renews (`simplereenroll`) with the current
 * identity at `identity_auto_renew.threshold`. A renewal only replaces the files once the answer has
 * been checked (content type, PKCS#7, key, CN, chain to the EST CA), so a failure keeps the old one.
 */
export class EstIdentityManager {
  readonly #o: EstIdentityOptions;
  readonly #now: () => number;
  #client: EstClient | undefined;
  #current: EstIdentity | undefined;
  /** The last renewal failure, for /health and metrics; cleared by a success. */
  #lastError: { readonly message: string; readonly at: number } | undefined;

  constructor(o: EstIdentityOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#client = o.client;
  }

  current(): EstIdentity | undefined {
    return this.#current;
  }

  lastError(): { readonly message: string; readonly at: number } | undefined {
    return this.#lastError;
  }

  /**
   * At start: the stored identity while it is valid — even past its renewal point: the renewal timer
   * renews it shortly after start, so an offline gateway starts at once — else a fresh enrollment
   * with the bootstrap certificate. Throws only when there is no usable identity at all.
   */
  async ensure(): Promise<EstIdentity> {
    const stored = await this.#loadStored();
    const now = this.#now();
    if (stored && now >= stored.cred.cert.notBefore && now < stored.cred.cert.notAfter) {
      this.#current = stored;
      return stored;
    }
    this.#current = await this.#enroll('simpleenroll', await this.#bootstrapAuth(), undefined);
    return this.#current;
  }

  /** Re-enrolls with the current identity; on success the new identity is stored and returned. */
  async renew(): Promise<EstIdentity> {
    const current = this.#current;
    if (!current) throw new GatehouseError('GH_ERR_INTERNAL', 'EST renewal before enrollment');
    try {
      const next = await this.#enroll('simplereenroll', current, current);
      this.#current = next;
      this.#lastError = undefined;
      return next;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#lastError = { message, at: this.#now() };
      this.#o.log.error(
        { err: message, notAfter: new Date(current.cred.cert.notAfter).toISOString() },
        'identity certificate renewal failed; keeping the current one',
      );
      throw err;
    }
  }

  /** When the current identity is due for renewal. */
  nextRenewalAt(): number {
    const cert = this.#current?.cred.cert;
    return cert ? renewalTime(cert, this.#o.est.identityAutoRenew.threshold) : this.#now();
  }

  retryMs(): number {
    const cert = this.#current?.cred.cert;
    return cert ? retryDelay(cert, this.#o.est.identityAutoRenew.retry) : 60_000;
  }

  async #enroll(
    op: 'simpleenroll' | 'simplereenroll',
    auth: EstClientAuth,
    current: EstIdentity | undefined,
  ): Promise<EstIdentity> {
    const { cred } = await enrollOverEst({
      client: await this.#clientOnce(),
      op,
      auth,
      keys: await this.#keysFor(current),
      commonName: this.#o.deviceId,
      profile: 'client',
      now: this.#now(),
    });
    await writeCredential(this.#o.dir, EST_IDENTITY_NAME, cred, true);
    this.#o.log.info(
      { op, serial: cred.cert.serialHex, notAfter: new Date(cred.cert.notAfter).toISOString() },
      'identity certificate enrolled over EST',
    );
    return toIdentity(cred);
  }

  /** rotate_key = false keeps the current key across renewals; a first enrollment always makes one. */
  async #keysFor(current: EstIdentity | undefined): Promise<KeyPair> {
    if (current && !this.#o.est.identityAutoRenew.rotateKey) {
      return importPrivateKeyPem(current.keyPem, 'identity key');
    }
    return generateKeyPair('ec-p256');
  }

  async #loadStored(): Promise<EstIdentity | undefined> {
    if (!existsSync(credentialPaths(this.#o.dir, EST_IDENTITY_NAME).cert)) return undefined;
    try {
      return toIdentity(await loadCredential(this.#o.dir, EST_IDENTITY_NAME));
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'stored EST identity unreadable; enrolling again');
      return undefined;
    }
  }

  async #bootstrapAuth(): Promise<EstClientAuth> {
    const { bootstrapIdentityCert: cert, bootstrapIdentityPk: pk } = this.#o.est;
    if (cert === undefined || pk === undefined) {
      throw new GatehouseError(
        'GH_ERR_CONFIG',
        '[cert_issuance.est] bootstrap_identity_cert: required for the first enrollment (no usable identity in data_dir)',
      );
    }
    const cred = await loadCredentialFiles(cert, pk, 'EST bootstrap identity');
    return { certPem: cred.chain.map((c) => c.pem).join(''), keyPem: cred.keyPem };
  }

  async #clientOnce(): Promise<EstClient> {
    this.#client ??= await estClientFromConfig(this.#o.est);
    return this.#client;
  }
}

function toIdentity(cred: Credential): EstIdentity {
  return { cred, certPem: cred.chain.map((c) => c.pem).join(''), keyPem: cred.keyPem };
}
