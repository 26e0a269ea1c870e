import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.ts';
import { type GatehouseError, isGatehouseError } from '../../../src/errors.ts';
import { makeTempDir, makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';

let pki: TestPki;
let identity: TestCred;
let other: TestCred;
let tmp: { dir: string; cleanup: () => Promise<void> };
let n = 0;

beforeAll(async () => {
  pki = await makeTestPki();
  identity = await pki.device('gateway-1');
  other = await pki.device('someone-else');
  tmp = await makeTempDir('gatehouse-config-');
});
afterAll(async () => tmp.cleanup());

interface Files {
  trust?: string;
  identityCert?: string;
  identityKey?: string;
  edgeCert?: string;
  edgeKey?: string;
}

/** A fresh folder with a config and the files it names; `files` overrides contents ('' = do not write). */
async function setup(files: Files = {}, extraToml = ''): Promise<{ dir: string; configPath: string }> {
  const dir = join(tmp.dir, `case-${++n}`);
  await mkdir(join(dir, 'certs'), { recursive: true });
  const contents: Required<Files> = {
    trust: pki.root.cert.pem,
    identityCert: identity.chainPem,
    identityKey: identity.keyPem,
    edgeCert: pki.edgeCa.chainPem,
    edgeKey: pki.edgeCa.keyPem,
    ...files,
  };
  const names: Record<keyof Files, string> = {
    trust: 'root.pem',
    identityCert: 'identity.chain.pem',
    identityKey: 'identity.key.pem',
    edgeCert: 'edge-ca.chain.pem',
    edgeKey: 'edge-ca.key.pem',
  };
  for (const [k, name] of Object.entries(names) as Array<[keyof Files, string]>) {
    if (contents[k] !== '') await writeFile(join(dir, 'certs', name), contents[k]);
  }
  const configPath = join(dir, 'gateway.toml');
  await writeFile(
    configPath,
    `hostname = "gw.local"
trust_bundle_cert = "certs/root.pem"
[provisioning]
iothub_hostname = "hub.local"
device_id = "gateway-1"
[provisioning.authentication]
method = "x509"
identity_cert = "certs/identity.chain.pem"
identity_pk = "${pathToFileURL(join(dir, 'certs', 'identity.key.pem')).href}"
[edge_ca]
cert = "certs/edge-ca.chain.pem"
pk = "certs/edge-ca.key.pem"
${extraToml}`,
  );
  return { dir, configPath };
}

async function loadError(path: string): Promise<GatehouseError> {
  try {
    await loadConfig(path, { env: {} });
  } catch (err) {
    if (isGatehouseError(err, 'GH_ERR_CONFIG')) return err;
    throw err;
  }
  throw new Error('expected GH_ERR_CONFIG, but loading succeeded');
}

describe('loadConfig', () => {
  it('loads a config whose files exist, parse and match (relative and file:// paths)', async () => {
    const { dir, configPath } = await setup();
    const c = await loadConfig(configPath, { env: {} });
    expect(c.trustBundleCert).toBe(join(dir, 'certs', 'root.pem'));
    expect(c.provisioning.identityPk).toBe(join(dir, 'certs', 'identity.key.pem'));
    expect(c.edgeCa.cert).toBe(join(dir, 'certs', 'edge-ca.chain.pem'));
    expect(c.gateway.dataDir).toBe(join(dir, '.gatehouse', 'gateway-1'));
    expect(Object.isFrozen(c.provisioning)).toBe(true);
  });

  it('accepts a config without [edge_ca] files (quickstart Edge CA)', async () => {
    const { configPath } = await setup({ edgeCert: '', edgeKey: '' });
    const text = await readFile(configPath, 'utf8');
    await writeFile(configPath, text.replace(/\[edge_ca\][^[]*$/s, ''));
    const c = await loadConfig(configPath, { env: {} });
    expect(c.edgeCa.cert).toBeUndefined();
    expect(c.edgeCa.pk).toBeUndefined();
  });

  it('names the config file when it does not exist', async () => {
    const err = await loadError(join(tmp.dir, 'nope.toml'));
    expect(err.message).toMatch(/^config file .*nope\.toml: .*nope\.toml does not exist \(ENOENT\)$/);
  });

  it('names trust_bundle_cert when its file is missing', async () => {
    const { configPath } = await setup({ trust: '' });
    expect((await loadError(configPath)).message).toMatch(
      /^trust_bundle_cert: .*root\.pem does not exist \(ENOENT\)$/,
    );
  });

  it('names trust_bundle_cert when it is a folder', async () => {
    const { dir, configPath } = await setup({ trust: '' });
    await mkdir(join(dir, 'certs', 'root.pem'));
    expect((await loadError(configPath)).message).toMatch(/^trust_bundle_cert: .*root\.pem is not a file$/);
  });

  it('names identity_cert when it is not a certificate', async () => {
    const { configPath } = await setup({ identityCert: 'hello\n' });
    expect((await loadError(configPath)).message).toMatch(
      /^\[provisioning\.authentication\] identity_cert: .*identity\.chain\.pem is not a PEM certificate file/,
    );
  });

  it('names identity_cert when a PEM block is damaged', async () => {
    const damaged = identity.cert.pem.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!');
    const { configPath } = await setup({ identityCert: damaged });
    expect((await loadError(configPath)).message).toMatch(
      /^\[provisioning\.authentication\] identity_cert: /,
    );
  });

  it('names identity_pk when it is not a key, without quoting the file', async () => {
    const { configPath } = await setup({
      identityKey: '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n',
    });
    const err = await loadError(configPath);
    expect(err.message).toMatch(
      /^\[provisioning\.authentication\] identity_pk: .* is not a readable private key/,
    );
    expect(err.message).not.toContain('c2VjcmV0');
  });

  it('names identity_pk when it does not match identity_cert', async () => {
    const { configPath } = await setup({ identityKey: other.keyPem });
    expect((await loadError(configPath)).message).toMatch(
      /^\[provisioning\.authentication\] identity_pk: .* does not match the certificate in identity_cert \(.*CN=gateway-1/,
    );
  });

  it('names [edge_ca] cert when it is not a CA', async () => {
    const { configPath } = await setup({ edgeCert: identity.chainPem, edgeKey: identity.keyPem });
    expect((await loadError(configPath)).message).toMatch(/^\[edge_ca\] cert: .* is not a CA certificate/);
  });

  it('names [edge_ca] pk when it does not match the Edge CA', async () => {
    const { configPath } = await setup({ edgeKey: pki.intermediate.keyPem });
    expect((await loadError(configPath)).message).toMatch(
      /^\[edge_ca\] pk: .* does not match the certificate in cert/,
    );
  });

  it('names [edge_ca] pk when its file is missing', async () => {
    const { configPath } = await setup({ edgeKey: '' });
    expect((await loadError(configPath)).message).toMatch(
      /^\[edge_ca\] pk: .*edge-ca\.key\.pem does not exist/,
    );
  });

  it('reports schema errors before touching files', async () => {
    const { configPath } = await setup({ trust: '' }, '[gateway]\nport = 70000\n');
    expect((await loadError(configPath)).message).toBe('[gateway] port: must be an integer from 0 to 65535');
  });

  it('reads GATEHOUSE_LOG_LEVEL from the environment it is given', async () => {
    const { configPath } = await setup();
    const c = await loadConfig(configPath, { env: { GATEHOUSE_LOG_LEVEL: 'trace' } });
    expect(c.gateway.logLevel).toBe('trace');
  });
});

describe('examples/gateway.toml', () => {
  it('loads once the certificate files it names exist', async () => {
    const dir = join(tmp.dir, 'example');
    await mkdir(join(dir, 'certs'), { recursive: true });
    const example = join(import.meta.dirname, '..', '..', '..', 'examples', 'gateway.toml');
    await copyFile(example, join(dir, 'gateway.toml'));
    const edge = pki.edgeCa;
    const files: Record<string, string> = {
      'root-ca.cert.pem': pki.root.cert.pem,
      'identity-gateway-1.chain.pem': identity.chainPem,
      'identity-gateway-1.key.pem': identity.keyPem,
      'edge-ca-gateway.chain.pem': edge.chainPem,
      'edge-ca-gateway.key.pem': edge.keyPem,
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, 'certs', name), text);

    const c = await loadConfig(join(dir, 'gateway.toml'), { env: {} });
    expect(c.hostname).toBe('gateway.local');
    expect(c.provisioning.deviceId).toBe('gateway-1');
    expect(c.edgeCa.cert).toBe(join(dir, 'certs', 'edge-ca-gateway.chain.pem'));
    expect(c.gateway.dataDir).toBe(join(dir, 'data', 'gateway-1'));
    expect(c.gateway.metricsListen).toEqual({ host: '127.0.0.1', port: 9600 });
  });

  it('is refused while its files are missing, naming the first one', async () => {
    const dir = join(tmp.dir, 'example-empty');
    await mkdir(dir, { recursive: true });
    await copyFile(
      join(import.meta.dirname, '..', '..', '..', 'examples', 'gateway.toml'),
      join(dir, 'gateway.toml'),
    );
    expect((await loadError(join(dir, 'gateway.toml'))).message).toMatch(
      /^trust_bundle_cert: .*does not exist/,
    );
  });
});
