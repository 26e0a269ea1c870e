import type { GatewayConfig } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import { loadCredentialFiles } from '../pki/store.ts';
import type { Identity } from '../upstream/index.ts';
import type { Forwarder } from '../upstream/types.ts';

/** The identity PEMs the upstream clients read; the scope client reads them per request. */
export interface IdentityHolder {
  certPem: string;
  keyPem: string;
}

/**
 * Re-reads a manually configured identity (identity_cert / identity_pk) — what an operator does after
 * replacing an expired or refused certificate — and, when it changed, hands it to the upstream link,
 * which reconnects with it without touching the queue. The files are checked first (parse, key
 * matches): a bad pair is refused and the current identity kept. Resolves whether it changed.
 */
export async function reloadManualIdentity(o: {
  readonly config: GatewayConfig;
  readonly holder: IdentityHolder;
  readonly forwarder: Forwarder & { reloadIdentity?: (identity: Identity) => void };
  readonly log: Logger;
}): Promise<boolean> {
  const { identityCert, identityPk } = o.config.provisioning;
  const cred = await loadCredentialFiles(identityCert, identityPk, '[provisioning.authentication] identity');
  const certPem = cred.chain.map((c) => c.pem).join('');
  if (certPem === o.holder.certPem && cred.keyPem === o.holder.keyPem) return false;
  o.forwarder.reloadIdentity?.({ certPem, keyPem: cred.keyPem });
  o.holder.certPem = certPem;
  o.holder.keyPem = cred.keyPem;
  o.log.info(
    { sha256: cred.cert.sha256, notAfter: new Date(cred.cert.notAfter).toISOString() },
    'identity certificate reloaded from its files',
  );
  return true;
}
