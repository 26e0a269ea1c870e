import { existsSync } from 'node:fs';
import { EST_EDGE_CA_NAME } from '../config/defaults.ts';
import type { AutoRenewConfig, EstConfig } from '../config/types.ts';
import { renewalTime, retryDelay } from '../edge-ca/lifetime.ts';
import type { Logger } from '../logger.ts';
import {
  type Credential,
  credentialPaths,
  generateKeyPair,
  importPrivateKeyPem,
  loadCredentialFiles,
  writeCredential,
} from '../pki/index.ts';
import type { EstClient, EstClientAuth } from './client.ts';
import { enrollOverEst, estClientFromConfig } from './enroll.ts';
import { EDGE_CA_LABEL, edgeCaCommonName } from './labels.ts';

export interface EstEdgeCaOptions {
  readonly est: EstConfig;
  readonly deviceId: string;
  /** DATA/certs: `est-edge-ca.{cert,chain,key}.pem`; the chain file ends with the EST root. */
  readonly dir: string;
  /** `[edge_ca.auto_renew]`. */
  readonly autoRenew: AutoRenewConfig;
  /** The gateway's identity certificate, which authenticates Edge CA requests. */
  readonly auth: () => Promise<EstClientAuth>;
  readonly log: Logger;
  readonly now?: () => number;
  readonly client?: EstClient;
}

/**
 * `[edge_ca] method = "est"`: the Edge CA is requested from the EST server's `edge-ca` label with
 * the gateway's identity certificate, stored in the data directory (read from there by loadEdgeCa
 * like any configured Edge CA) and renewed at `[edge_ca.auto_renew] threshold`. A renewal that fails
 * keeps the current Edge CA; the answer is checked as for identities, plus: it must be a signing CA.
 */
export class EstEdgeCaManager {
  readonly #o: EstEdgeCaOptions;
  readonly #now: () => number;
  #client: EstClient | undefined;
  #current: Credential | undefined;

  constructor(o: EstEdgeCaOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#client = o.client;
  }

  current(): Credential | undefined {
    return this.#current;
  }

  /** The stored Edge CA while it is valid (renewed later by the timer when due), else a new one. */
  async ensure(): Promise<Credential> {
    const paths = credentialPaths(this.#o.dir, EST_EDGE_CA_NAME);
    if (existsSync(paths.chain)) {
      try {
        const stored = await loadCredentialFiles(paths.chain, paths.key, 'EST Edge CA');
        const now = this.#now();
        if (stored.cert.isCa && now >= stored.cert.notBefore && now < stored.cert.notAfter) {
          this.#current = stored;
          return stored;
        }
      } catch (err) {
        this.#o.log.warn({ err: (err as Error).message }, 'stored EST Edge CA unreadable; enrolling again');
      }
    }
    this.#current = await this.#enroll('simpleenroll');
    return this.#current;
  }

  async renew(): Promise<Credential> {
    try {
      this.#current = await this.#enroll('simplereenroll');
      return this.#current;
    } catch (err) {
      this.#o.log.error(
        { err: err instanceof Error ? err.message : String(err) },
        'Edge CA renewal over EST failed; keeping the current one',
      );
      throw err;
    }
  }

  nextRenewalAt(): number {
    const cert = this.#current?.cert;
    return cert ? renewalTime(cert, this.#o.autoRenew.threshold) : this.#now();
  }

  retryMs(): number {
    const cert = this.#current?.cert;
    return cert ? retryDelay(cert, this.#o.autoRenew.retry) : 60_000;
  }

  async #enroll(op: 'simpleenroll' | 'simplereenroll'): Promise<Credential> {
    const current = this.#current;
    const keys =
      current && !this.#o.autoRenew.rotateKey
        ? await importPrivateKeyPem(current.keyPem, 'Edge CA key')
        : await generateKeyPair('ec-p256');
    this.#client ??= await estClientFromConfig(this.#o.est);
    const { cred, anchor } = await enrollOverEst({
      client: this.#client,
      op,
      label: EDGE_CA_LABEL,
      auth: await this.#o.auth(),
      keys,
      commonName: edgeCaCommonName(this.#o.deviceId),
      profile: 'edge-ca',
      now: this.#now(),
    });
    // The chain file carries the EST root too: loadEdgeCa drops it from what TLS sends, and the
    // workload API's trust bundle finds it there.
    const stored: Credential = { ...cred, chain: [...cred.chain, anchor] };
    await writeCredential(this.#o.dir, EST_EDGE_CA_NAME, stored, true);
    this.#o.log.info(
      { op, serial: cred.cert.serialHex, notAfter: new Date(cred.cert.notAfter).toISOString() },
      'Edge CA enrolled over EST',
    );
    return stored;
  }
}
