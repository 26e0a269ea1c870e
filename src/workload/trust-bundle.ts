import type { CertInfo } from '../pki/index.ts';
import { parseCertificatesPem, readTextFile } from '../pki/index.ts';

export interface TrustBundleSources {
  /** The quickstart root file, when the Edge CA is the quickstart one. */
  readonly quickstartRootPath: string | undefined;
  /** `[edge_ca] cert` (may carry the chain up to its root). */
  readonly edgeCaCertPath: string | undefined;
  /** The Edge CA chain in use (root excluded), the fallback anchor when no root is on disk. */
  readonly edgeCaChain: readonly CertInfo[];
  /** `trust_bundle_cert`: the upstream roots, which IoT Edge also hands to modules. */
  readonly trustBundleCert: string;
}

/**
 * What GET /trust-bundle answers, as IoT Edge does: the roots that anchor the Edge CA (so modules
 * verify the gateway and each other) followed by the upstream trust bundle, each certificate once.
 */
export async function buildTrustBundle(s: TrustBundleSources): Promise<string> {
  const edgeRoots = await edgeCaRoots(s);
  const upstream = parseCertificatesPem(
    await readTextFile(s.trustBundleCert, 'trust_bundle_cert'),
    'trust_bundle_cert',
  );
  const seen = new Set<string>();
  return [...edgeRoots, ...upstream]
    .filter((c) => !seen.has(c.sha256) && seen.add(c.sha256))
    .map((c) => c.pem)
    .join('');
}

async function edgeCaRoots(s: TrustBundleSources): Promise<CertInfo[]> {
  const path = s.quickstartRootPath ?? s.edgeCaCertPath;
  if (path !== undefined) {
    const certs = parseCertificatesPem(await readTextFile(path, 'Edge CA trust'), 'Edge CA trust');
    const roots = certs.filter((c) => c.selfIssued);
    if (roots.length > 0) return roots;
  }
  // No root on disk (the operator gave only the Edge CA chain): its top is the best anchor we have.
  const top = s.edgeCaChain.at(-1);
  return top ? [top] : [];
}
