import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/config/index.ts';
import { type GatehouseError, isGatehouseError } from '../../../src/errors.ts';
import { makeCred, makeTempDir, writeTestCred } from '../../helpers/pki.ts';

const BASE = '/etc/gatehouse';
const HEAD = `
hostname = "gw.local"
trust_bundle_cert = "certs/root.pem"

[provisioning]
iothub_hostname = "hub.local"
device_id = "gw1"

[provisioning.authentication]
method = "x509"
`;
const FILES = 'identity_cert = "certs/identity.pem"\nidentity_pk = "certs/identity.key.pem"\n';
const EST = `
[cert_issuance.est]
url = "https://hub.local:8443/.well-known/est/"
bootstrap_identity_cert = "certs/bootstrap.pem"
bootstrap_identity_pk = "certs/bootstrap.key.pem"
`;

function configError(text: string): GatehouseError {
  try {
    parseConfig(text, BASE);
  } catch (err) {
    if (isGatehouseError(err, 'GH_ERR_CONFIG')) return err;
    throw err;
  }
  throw new Error('expected GH_ERR_CONFIG');
}

describe('[cert_issuance.est]', () => {
  it('reads EST settings; the identity then lives in data_dir and trusted_certs defaults to trust_bundle_cert', () => {
    const c = parseConfig(`${HEAD}${EST}\n[gateway]\ndata_dir = "/var/gh"\n`, BASE);
    expect(c.certIssuance.est).toEqual({
      url: 'https://hub.local:8443/.well-known/est',
      trustedCerts: ['/etc/gatehouse/certs/root.pem'],
      bootstrapIdentityCert: '/etc/gatehouse/certs/bootstrap.pem',
      bootstrapIdentityPk: '/etc/gatehouse/certs/bootstrap.key.pem',
      identityAutoRenew: {
        rotateKey: true,
        threshold: { kind: 'percent', value: 80 },
        retry: { kind: 'percent', value: 4 },
      },
    });
    expect(c.provisioning.identityCert).toBe('/var/gh/certs/est-identity.cert.pem');
    expect(c.provisioning.identityPk).toBe('/var/gh/certs/est-identity.key.pem');
  });

  it('reads identity_auto_renew and explicit trusted_certs', () => {
    const c = parseConfig(
      `${HEAD}${EST}trusted_certs = ["file:///pki/est-root.pem", "b.pem"]\n\n[cert_issuance.est.identity_auto_renew]\nrotate_key = false\nthreshold = "2d"\nretry = "1h"\n`,
      BASE,
    );
    expect(c.certIssuance.est?.trustedCerts).toEqual(['/pki/est-root.pem', '/etc/gatehouse/b.pem']);
    expect(c.certIssuance.est?.identityAutoRenew).toEqual({
      rotateKey: false,
      threshold: { kind: 'duration', ms: 2 * 86_400_000 },
      retry: { kind: 'duration', ms: 3_600_000 },
    });
  });

  it('refuses identity files next to EST, and requires them without it', () => {
    expect(configError(`${HEAD}${FILES}${EST}`).message).toMatch(
      /^\[provisioning.authentication\] identity_cert: must be omitted when \[cert_issuance.est\] is set/,
    );
    expect(configError(HEAD).message).toMatch(/^\[provisioning.authentication\] identity_cert: required/);
  });

  it.each([
    ['http URL', 'url = "http://hub.local/.well-known/est"', /\[cert_issuance.est\] url: must be an https/],
    ['URL with credentials', 'url = "https://u:p@hub.local/est"', /url: must not carry credentials/],
    ['not a URL', 'url = "hub.local"', /url: must be an https/],
    ['unknown key', 'url = "https://h/est"\nusername = "x"', /\[cert_issuance.est\] username: unknown key/],
    [
      'half a bootstrap pair',
      'url = "https://h/est"\nbootstrap_identity_cert = "a.pem"',
      /bootstrap_identity_pk: required when bootstrap_identity_cert is set/,
    ],
    ['empty trusted_certs', 'url = "https://h/est"\ntrusted_certs = []', /trusted_certs: must not be empty/],
  ])('refuses %s, naming the key', (_what, body, message) => {
    expect(configError(`${HEAD}\n[cert_issuance.est]\n${body}\n`).message).toMatch(message);
  });
});

describe('[edge_ca] method = "est"', () => {
  it('points the Edge CA at the enrolled files in data_dir', () => {
    const c = parseConfig(
      `${HEAD}${EST}\n[edge_ca]\nmethod = "est"\n\n[gateway]\ndata_dir = "/var/gh"\n`,
      BASE,
    );
    expect(c.edgeCa).toMatchObject({
      est: true,
      cert: '/var/gh/certs/est-edge-ca.chain.pem',
      pk: '/var/gh/certs/est-edge-ca.key.pem',
    });
    expect(parseConfig(`${HEAD}${FILES}`, BASE).edgeCa.est).toBeUndefined();
  });

  it('needs [cert_issuance.est] and refuses cert/pk next to it', () => {
    expect(configError(`${HEAD}${FILES}\n[edge_ca]\nmethod = "est"\n`).message).toMatch(
      /^\[edge_ca\] method: "est" needs a \[cert_issuance.est\] table/,
    );
    expect(configError(`${HEAD}${EST}\n[edge_ca]\nmethod = "est"\ncert = "ca.pem"\n`).message).toMatch(
      /^\[edge_ca\] cert: must be omitted when method = "est"/,
    );
    expect(configError(`${HEAD}${FILES}\n[edge_ca]\nmethod = "files"\n`).message).toMatch(
      /^\[edge_ca\] method: must be "est"/,
    );
  });
});

describe('[gateway.workload]', () => {
  it('defaults to disabled with no allowed names', () => {
    const c = parseConfig(`${HEAD}${FILES}`, BASE);
    expect(c.gateway.workload).toEqual({ enabled: false, allowedNames: [], certDays: 30 });
  });

  it('reads enabled, allowed_names (lowercased) and cert_days', () => {
    const c = parseConfig(
      `${HEAD}${FILES}\n[gateway.workload]\nenabled = true\nallowed_names = ["*.Local", "sensor-*", "10.0.0.5"]\ncert_days = 7\n`,
      BASE,
    );
    expect(c.gateway.workload).toEqual({
      enabled: true,
      allowedNames: ['*.local', 'sensor-*', '10.0.0.5'],
      certDays: 7,
    });
  });

  it('refuses bad globs and lifetimes, naming the key', () => {
    expect(configError(`${HEAD}${FILES}\n[gateway.workload]\nallowed_names = ["a b"]\n`).message).toMatch(
      /^\[gateway.workload\] allowed_names\[0\]: each entry must be a name or glob/,
    );
    expect(configError(`${HEAD}${FILES}\n[gateway.workload]\ncert_days = 0\n`).message).toMatch(
      /^\[gateway.workload\] cert_days: must be an integer from 1 to 3650/,
    );
  });
});

describe('loadConfig with [cert_issuance.est]', () => {
  it('needs no identity files, but checks trusted_certs and the bootstrap pair', async () => {
    const { dir, cleanup } = await makeTempDir('gatehouse-est-cfg-');
    try {
      const root = await writeTestCred(dir, 'root', await makeCred('root', 'R', undefined));
      const boot = await writeTestCred(dir, 'boot', await makeCred('self-signed-device', 'gw1', undefined));
      const other = await writeTestCred(dir, 'other', await makeCred('self-signed-device', 'gw1', undefined));
      const text = (pk: string) => `hostname = "gw.local"
trust_bundle_cert = "${root.cert}"
[provisioning]
iothub_hostname = "hub.local"
device_id = "gw1"
[provisioning.authentication]
method = "x509"
[cert_issuance.est]
url = "https://hub.local/.well-known/est"
bootstrap_identity_cert = "${boot.cert}"
bootstrap_identity_pk = "${pk}"
`;
      const path = join(dir, 'gw.toml');
      await writeFile(path, text(boot.key));
      const config = await loadConfig(path, { env: {} });
      expect(config.certIssuance.est?.trustedCerts).toEqual([root.cert]);
      await writeFile(path, text(other.key));
      await expect(loadConfig(path, { env: {} })).rejects.toThrow(
        /^\[cert_issuance.est\] bootstrap_identity_pk: .* does not match the certificate in bootstrap_identity_cert/,
      );
    } finally {
      await cleanup();
    }
  });
});
