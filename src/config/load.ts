import { createPrivateKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { GatehouseError } from '../errors.ts';
import { type CertInfo, keyMatchesCertificate, parseCertificatesPem } from '../pki/index.ts';
import { MAX_CONFIG_BYTES } from './defaults.ts';
import { keyLabel } from './keys.ts';
import { type ParseConfigOptions, parseConfig } from './parse.ts';
import type { GatewayConfig } from './types.ts';

/** Largest certificate or key file read (a PEM bundle of a few hundred certificates fits). */
const MAX_PEM_BYTES = 1024 * 1024;

/**
 * Reads, validates and freezes the gateway configuration, then checks the files it names: each exists,
 * is readable, parses (certificates as PEM X.509, keys as private keys) and each key matches its
 * certificate. Every failure is one GH_ERR_CONFIG naming the key. The environment is read here and
 * only here (GATEHOUSE_LOG_LEVEL).
 */
export async function loadConfig(
  path: string,
  options: ParseConfigOptions = { env: process.env },
): Promise<GatewayConfig> {
  const file = resolve(path);
  const text = await readLimited(file, `config file ${file}`, MAX_CONFIG_BYTES);
  const config = parseConfig(text, dirname(file), options);
  await checkFiles(config);
  return config;
}

async function checkFiles(config: GatewayConfig): Promise<void> {
  await readCertificates(config.trustBundleCert, '', 'trust_bundle_cert');

  const est = config.certIssuance.est;
  if (est) {
    // The enrolled identity may not exist yet (first start); the gateway enrolls it with the bootstrap pair.
    const table = 'cert_issuance.est';
    for (const path of est.trustedCerts) await readCertificates(path, table, 'trusted_certs');
    if (est.bootstrapIdentityCert !== undefined && est.bootstrapIdentityPk !== undefined) {
      const boot = await readCertificates(est.bootstrapIdentityCert, table, 'bootstrap_identity_cert');
      await readMatchingKey(
        est.bootstrapIdentityPk,
        boot,
        table,
        'bootstrap_identity_pk',
        'bootstrap_identity_cert',
      );
    }
  } else {
    const auth = 'provisioning.authentication';
    const identity = await readCertificates(config.provisioning.identityCert, auth, 'identity_cert');
    await readMatchingKey(config.provisioning.identityPk, identity, auth, 'identity_pk', 'identity_cert');
  }

  const { cert, pk } = config.edgeCa;
  // An EST Edge CA may not exist yet: the gateway enrolls it at start.
  if (cert !== undefined && pk !== undefined && !config.edgeCa.est) {
    const edgeCa = await readCertificates(cert, 'edge_ca', 'cert');
    if (!edgeCa.isCa) {
      throw keyError(
        'edge_ca',
        'cert',
        `${cert} is not a CA certificate (basicConstraints CA:TRUE is required)`,
      );
    }
    await readMatchingKey(pk, edgeCa, 'edge_ca', 'pk', 'cert');
  }
}

/** The first certificate of the file (the leaf, for chain files); all of them must parse. */
async function readCertificates(path: string, table: string, key: string): Promise<CertInfo> {
  const text = await readLimited(path, keyLabel(table, key), MAX_PEM_BYTES);
  try {
    const [first] = parseCertificatesPem(text, 'contents');
    if (first) return first;
  } catch (err) {
    throw keyError(table, key, `${path} is not a PEM certificate file (${(err as Error).message})`, err);
  }
  throw keyError(table, key, `${path} holds no certificate`);
}

async function readMatchingKey(
  path: string,
  cert: CertInfo,
  table: string,
  key: string,
  certKey: string,
): Promise<void> {
  const pem = await readLimited(path, keyLabel(table, key), MAX_PEM_BYTES);
  try {
    createPrivateKey(pem);
  } catch {
    // The decoder's message can quote key bytes; say only what the file is not.
    throw keyError(table, key, `${path} is not a readable private key (PEM PKCS#8, SEC1 or PKCS#1)`);
  }
  if (!keyMatchesCertificate(pem, cert)) {
    throw keyError(table, key, `${path} does not match the certificate in ${certKey} (${cert.subject})`);
  }
}

async function readLimited(path: string, label: string, maxBytes: number): Promise<string> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new GatehouseError('GH_ERR_CONFIG', `${label}: ${path} is not a file`);
    if (info.size > maxBytes) {
      throw new GatehouseError('GH_ERR_CONFIG', `${label}: ${path} is larger than ${maxBytes} bytes`);
    }
    return await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : 'cannot be read';
    throw new GatehouseError('GH_ERR_CONFIG', `${label}: ${path} ${why} (${code})`, { cause: err });
  }
}

function keyError(table: string, key: string, message: string, cause?: unknown): GatehouseError {
  return new GatehouseError(
    'GH_ERR_CONFIG',
    `${keyLabel(table, key)}: ${message}`,
    cause ? { cause } : undefined,
  );
}
