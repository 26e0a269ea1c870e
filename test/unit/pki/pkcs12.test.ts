import { createPrivateKey } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import { exportPkcs12, type KeyType, keyMatchesCertificate } from '../../../src/pki/index.ts';
import { makeTestPki } from '../../helpers/pki.ts';

const T0 = new Date(Date.UTC(2026, 0, 15, 12, 0, 0));

/** Reads a PFX back with forge (MAC checked with the password) and returns its bags. */
function readPfx(pfx: Buffer, password: string) {
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(pfx.toString('binary')), true, password);
  const keyBags = p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag as string })[
    forge.pki.oids.pkcs8ShroudedKeyBag as string
  ];
  const certBags = p12.getBags({ bagType: forge.pki.oids.certBag as string })[
    forge.pki.oids.certBag as string
  ];
  return { keyBags: keyBags ?? [], certBags: certBags ?? [] };
}

/** PKCS#8 PEM of a decrypted key bag: forge keeps EC keys as raw ASN.1, RSA keys as objects. */
function keyPemOf(bag: forge.pkcs12.Bag): string {
  const asn1 = bag.key ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key)) : bag.asn1;
  const der = Buffer.from(forge.asn1.toDer(asn1 as forge.asn1.Asn1).getBytes(), 'binary');
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
}

const certDerOf = (bag: forge.pkcs12.Bag): string =>
  bag.cert
    ? forge.asn1.toDer(forge.pki.certificateToAsn1(bag.cert)).getBytes()
    : forge.asn1.toDer(bag.asn1 as forge.asn1.Asn1).getBytes();

describe.each<KeyType>(['ec-p256', 'rsa-2048'])('exportPkcs12 (%s)', (keyType) => {
  it('holds the shrouded key and the chain, readable back with the password', async () => {
    const pki = await makeTestPki({ keyType, now: T0 });
    const dev = await pki.device('sensor-p12', { now: T0 });
    const chain = [dev.cert, pki.intermediate.cert];
    const pfx = exportPkcs12({ keyPem: dev.keyPem, chain, password: 'correct horse' });
    const { keyBags, certBags } = readPfx(pfx, 'correct horse');
    expect(keyBags).toHaveLength(1);
    expect(keyMatchesCertificate(keyPemOf(keyBags[0] as forge.pkcs12.Bag), dev.cert)).toBe(true);
    expect(certBags.map((b) => Buffer.from(certDerOf(b), 'binary').toString('hex'))).toEqual(
      chain.map((c) => c.der.toString('hex')),
    );
    expect(keyBags[0]?.attributes.friendlyName).toEqual(['sensor-p12']);
    expect(certBags[0]?.attributes.localKeyId).toEqual(keyBags[0]?.attributes.localKeyId);
  }, 30_000);

  it('refuses the wrong password (MAC check)', async () => {
    const pki = await makeTestPki({ keyType, now: T0 });
    const pfx = exportPkcs12({ keyPem: pki.root.keyPem, chain: [pki.root.cert], password: 'right' });
    expect(() => readPfx(pfx, 'wrong')).toThrow(/MAC|password/i);
  }, 30_000);
});

describe('exportPkcs12 refusals', () => {
  it('refuses empty, non-ASCII or over-long passwords, a foreign key and an empty chain', async () => {
    const pki = await makeTestPki({ now: T0 });
    const base = { keyPem: pki.root.keyPem, chain: [pki.root.cert] };
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
        return 'returned';
      } catch (err) {
        return isGatehouseError(err) ? err.code : String(err);
      }
    };
    expect(codeOf(() => exportPkcs12({ ...base, password: '' }))).toBe('GH_ERR_INPUT');
    expect(codeOf(() => exportPkcs12({ ...base, password: 'pässwort' }))).toBe('GH_ERR_INPUT');
    expect(codeOf(() => exportPkcs12({ ...base, password: 'x'.repeat(129) }))).toBe('GH_ERR_INPUT');
    expect(codeOf(() => exportPkcs12({ ...base, chain: [], password: 'p' }))).toBe('GH_ERR_INPUT');
    expect(codeOf(() => exportPkcs12({ ...base, keyPem: pki.intermediate.keyPem, password: 'p' }))).toBe(
      'GH_ERR_KEY_MISMATCH',
    );
    expect(codeOf(() => exportPkcs12({ ...base, keyPem: 'junk', password: 'p' }))).toBe('GH_ERR_PEM');
  });
});
