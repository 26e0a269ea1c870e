import { LRUCache } from 'lru-cache';
import type { CertInfo } from '../pki/index.ts';

/** Longest chain rebuilt from memory (leaf excluded); validateChain stops at 8 anyway. */
const MAX_DEPTH = 6;

/**
 * Intermediates seen in chains that authenticated. A resumed TLS session restores only the client's
 * leaf certificate, not the intermediates it sent (OpenSSL keeps no peer chain in the ticket), so a
 * CA-authenticated device that resumes would otherwise be refused. Intermediates are untrusted path
 * candidates either way: the path must still end at a verified CA with every signature checked, so
 * remembering them widens nothing. Bounded, and fed only by chains that were accepted.
 */
export class IntermediateMemory {
  readonly #bySubject: LRUCache<string, CertInfo[]>;

  constructor(max = 1000) {
    this.#bySubject = new LRUCache({ max });
  }

  /** Keeps the intermediates of an accepted chain (leaf first). */
  remember(chain: readonly CertInfo[]): void {
    for (let i = 1; i < chain.length; i++) {
      const cert = chain[i] as CertInfo;
      if (cert.selfIssued) continue;
      const known = this.#bySubject.get(cert.subject);
      if (!known) this.#bySubject.set(cert.subject, [cert]);
      else if (!known.some((k) => k.sha256 === cert.sha256)) known.push(cert);
    }
  }

  /** Whether intermediates with this subject DN are remembered. */
  knows(subject: string): boolean {
    return this.#bySubject.has(subject);
  }

  /** A leaf-only chain completed with remembered intermediates, walking issuer names upwards. */
  complete(chain: readonly CertInfo[]): readonly CertInfo[] {
    const leaf = chain[0];
    if (chain.length !== 1 || !leaf || leaf.selfIssued) return chain;
    const out: CertInfo[] = [leaf];
    let issuer = leaf.issuer;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      const candidates = this.#bySubject.get(issuer);
      if (!candidates) break;
      out.push(...candidates);
      const next = candidates[0] as CertInfo;
      if (next.selfIssued || next.issuer === issuer) break;
      issuer = next.issuer;
    }
    return out;
  }
}
