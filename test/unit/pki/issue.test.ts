import { beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import {
  assertEdgeCaDiffersFromHostname,
  CLOCK_SKEW_MS,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  generateKeyPair,
  type IssueRequest,
  issueCertificate,
} from '../../../src/pki/index.ts';
import { x509 } from '../../../src/pki/webcrypto.ts';
import { makeCred, makeTestPki, type TestPki } from '../../helpers/pki.ts';

const T0 = new Date(Date.UTC(2026, 0, 15, 12, 0, 0));
const DAY = 86_400_000;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return isGatehouseError(err) ? err.code : `not a GatehouseError: ${String(err)}`;
  }
}

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki({ now: T0 });
});

describe('CA profiles at a fixed instant', () => {
  it('root: self-signed CA, no pathLen, back-dated notBefore, notAfter = now + days', () => {
    const root = pki.root.cert;
    expect(root.notBefore).toBe(T0.getTime() - CLOCK_SKEW_MS);
    expect(root.notAfter).toBe(T0.getTime() + 365 * DAY);
    expect(CLOCK_SKEW_MS).toBe(5 * 60_000);
    expect(root.isCa).toBe(true);
    expect(root.pathLen).toBeUndefined();
    expect(root.selfIssued).toBe(true);
    expect([...(root.keyUsage ?? [])].sort()).toEqual(['cRLSign', 'digitalSignature', 'keyCertSign']);
    expect(root.extKeyUsage).toBeUndefined();
    expect(root.subjectKeyId).toMatch(/^[0-9A-F]{40}$/);
    expect(root.authorityKeyId).toBe(root.subjectKeyId);
  });

  it('intermediate: pathLen 1, AKI = root SKI; Edge CA: pathLen 0 with keyCertSign, AKI = intermediate SKI', () => {
    const { root, intermediate, edgeCa } = pki;
    expect(intermediate.cert.isCa).toBe(true);
    expect(intermediate.cert.pathLen).toBe(1);
    expect(intermediate.cert.authorityKeyId).toBe(root.cert.subjectKeyId);
    expect(intermediate.cert.issuer).toBe(root.cert.subject);
    expect(edgeCa.cert.isCa).toBe(true);
    expect(edgeCa.cert.pathLen).toBe(0);
    expect(edgeCa.cert.keyUsage?.has('keyCertSign')).toBe(true);
    expect(edgeCa.cert.authorityKeyId).toBe(intermediate.cert.subjectKeyId);
    expect(edgeCa.cert.subjectCn).toBe('Gatehouse Test Edge CA');
  });
});

describe('leaf profiles', () => {
  it('server: CN = hostname, SAN DNS for a name, serverAuth only, not a CA', async () => {
    const s = await pki.server('gw.example.test', { now: T0 });
    expect(s.cert.subjectCn).toBe('gw.example.test');
    expect(s.cert.dnsNames).toEqual(['gw.example.test']);
    expect(s.cert.ipAddresses).toEqual([]);
    expect(s.cert.extKeyUsage).toEqual([EKU_SERVER_AUTH]);
    expect(s.cert.isCa).toBe(false);
    expect([...(s.cert.keyUsage ?? [])]).toEqual(['digitalSignature']);
  });

  it('server: an IPv4 or IPv6 hostname becomes an IP SAN; extra names are parsed, deduplicated', async () => {
    const v4 = await pki.server('192.168.1.23', { now: T0 });
    expect(v4.cert.ipAddresses).toEqual(['192.168.1.23']);
    expect(v4.cert.dnsNames).toEqual([]);
    const mixed = await pki.server('gw.local', {
      now: T0,
      extraNames: ['localhost', '127.0.0.1', '::1', 'GW.LOCAL', 'localhost'],
    });
    expect(mixed.cert.dnsNames).toEqual(['gw.local', 'localhost']);
    expect(mixed.cert.ipAddresses).toEqual(['127.0.0.1', '::1']);
  });

  it('server: a SAN that is neither DNS name nor IP is refused', async () => {
    expect(await codeOf(pki.server('gw.local', { now: T0, extraNames: ['not a host!'] }))).toBe(
      'GH_ERR_PROFILE',
    );
    expect(await codeOf(pki.server('under_score..', { now: T0 }))).toBe('GH_ERR_PROFILE');
  });

  it('server: RSA keys also get keyEncipherment (TLS 1.2 RSA key exchange)', async () => {
    const rsaPki = await makeTestPki({ keyType: 'rsa-2048', now: T0 });
    const s = await rsaPki.server('gw.local', { now: T0 });
    expect(s.cert.keyAlgorithm).toBe('rsa');
    expect([...(s.cert.keyUsage ?? [])].sort()).toEqual(['digitalSignature', 'keyEncipherment']);
  }, 30_000);

  it('client and self-signed device: CN = device id, clientAuth', async () => {
    const dev = await pki.device('sensor-01', { now: T0 });
    expect(dev.cert.subjectCn).toBe('sensor-01');
    expect(dev.cert.extKeyUsage).toEqual([EKU_CLIENT_AUTH]);
    expect(dev.cert.selfIssued).toBe(false);
    const self = await pki.selfSigned('sensor-02', { now: T0 });
    expect(self.cert.subjectCn).toBe('sensor-02');
    expect(self.cert.extKeyUsage).toEqual([EKU_CLIENT_AUTH]);
    expect(self.cert.selfIssued).toBe(true);
    expect(self.cert.isCa).toBe(false);
    expect(self.cert.native.verify(self.cert.publicKey)).toBe(true);
  });

  it('verification: CN = code, a leaf signed by the CA key', async () => {
    const v = await makeCred('verification', '9F3A2B7C1D', pki.root, { now: T0 });
    expect(v.cert.subjectCn).toBe('9F3A2B7C1D');
    expect(v.cert.isCa).toBe(false);
    expect(v.cert.native.verify(pki.root.cert.publicKey)).toBe(true);
  });
});

describe('key identifiers and names', () => {
  it.each(['ec-p256', 'rsa-2048'] as const)(
    'SKI is RFC 5280 method 1, as @peculiar/x509 computes it (%s)',
    async (keyType) => {
      const keys = await generateKeyPair(keyType);
      const c = await issueCertificate({
        profile: 'self-signed-device',
        commonName: 'ski',
        subjectKeys: keys,
        days: 1,
        now: T0,
      });
      const expected = (await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)).keyId.toUpperCase();
      expect(c.subjectKeyId).toBe(expected);
      expect(c.authorityKeyId).toBe(expected);
    },
    30_000,
  );

  it('the issuer field copies the issuer subject bytes, and OpenSSL sees the pair as issued', async () => {
    const dev = await pki.device('name-chain', { now: T0 });
    const issuerName = new x509.X509Certificate(dev.cert.der).issuerName.toArrayBuffer();
    const caName = new x509.X509Certificate(pki.intermediate.cert.der).subjectName.toArrayBuffer();
    expect(Buffer.from(issuerName).equals(Buffer.from(caName))).toBe(true);
    expect(dev.cert.native.checkIssued(pki.intermediate.cert.native)).toBe(true);
    expect(dev.cert.native.checkIssued(pki.root.cert.native)).toBe(false);
  });
});

describe('validity and serials', () => {
  it('a leaf never outlives its issuer: notAfter is cut to the issuer notAfter', async () => {
    const dev = await pki.device('long-lived', { now: T0, days: 3650 });
    expect(dev.cert.notAfter).toBe(pki.intermediate.cert.notAfter);
    const server = await pki.server('gw.local', { now: T0, days: 3650 });
    expect(server.cert.notAfter).toBe(pki.edgeCa.cert.notAfter);
    expect(pki.edgeCa.cert.notAfter).toBe(T0.getTime() + 90 * DAY);
  });

  it('back-dating never starts before the issuer', async () => {
    // Issued two minutes after the CA's own (back-dated) start: back-dating would reach 3 minutes before it.
    const early = new Date(pki.intermediate.cert.notBefore + 2 * 60_000);
    const dev = await pki.device('early', { now: early, days: 1 });
    expect(dev.cert.notBefore).toBe(pki.intermediate.cert.notBefore);
    expect(dev.cert.notAfter).toBe(early.getTime() + DAY);
    const later = new Date(T0.getTime() + 3_600_000);
    const dev2 = await pki.device('later', { now: later, days: 1 });
    expect(dev2.cert.notBefore).toBe(later.getTime() - CLOCK_SKEW_MS);
  });

  it('serials are random, positive and 128-bit (16 octets, top bit clear, first octet non-zero)', async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const c = await pki.selfSigned(`serial-${i}`, { now: T0 });
      expect(c.cert.serialHex).toMatch(/^[0-7][0-9A-F]{31}$/);
      expect(c.cert.serialHex.slice(0, 2)).not.toBe('00');
      expect(c.cert.native.serialNumber.toUpperCase()).toBe(c.cert.serialHex);
      serials.add(c.cert.serialHex);
    }
    expect(serials.size).toBe(40);
  });
});

describe('refusals', () => {
  const req = async (over: Partial<IssueRequest>): Promise<IssueRequest> => ({
    profile: 'client',
    commonName: 'dev',
    subjectKeys: await generateKeyPair(),
    issuer: pki.intermediate,
    days: 30,
    now: T0,
    ...over,
  });

  it('an Edge CA whose CN equals the gateway hostname (any case) is refused', async () => {
    expect(
      await codeOf(
        issueCertificate(
          await req({ profile: 'edge-ca', commonName: 'gw.local', gatewayHostname: 'GW.Local' }),
        ),
      ),
    ).toBe('GH_ERR_PROFILE');
    expect(
      await codeOf(
        issueCertificate(
          await req({ profile: 'edge-ca', commonName: 'Edge CA', gatewayHostname: 'gw.local' }),
        ),
      ),
    ).toBe('resolved');
    expect(() => assertEdgeCaDiffersFromHostname('gw.local', 'gw.local')).toThrow(/must differ/);
  });

  it('a server certificate whose hostname equals its Edge CA CN is refused', async () => {
    expect(await codeOf(pki.server('Gatehouse Test Edge CA', { now: T0 }))).toBe('GH_ERR_PROFILE');
  });

  it('days outside 1–36500 or not whole are refused', async () => {
    for (const days of [0, -1, 1.5, 36_501, Number.NaN]) {
      expect(await codeOf(issueCertificate(await req({ days })))).toBe('GH_ERR_PROFILE');
    }
  });

  it('bad common names are refused', async () => {
    for (const commonName of ['', ' dev', 'dev ', 'a'.repeat(65), 'de\nv', 'de\u007fv']) {
      expect(await codeOf(issueCertificate(await req({ commonName })))).toBe('GH_ERR_PROFILE');
    }
  });

  it('issuer problems are GH_ERR_ISSUER: missing, not a CA, not valid now, pathLen 0 signing a CA', async () => {
    const dev = await pki.device('not-a-ca', { now: T0 });
    const cases: Array<Partial<IssueRequest>> = [
      { issuer: undefined },
      { issuer: dev },
      { now: new Date(T0.getTime() + 400 * DAY) },
      { now: new Date(T0.getTime() - DAY) },
      { profile: 'intermediate', issuer: pki.edgeCa },
    ];
    for (const over of cases) expect(await codeOf(issueCertificate(await req(over)))).toBe('GH_ERR_ISSUER');
  });

  it('self-signed profiles take no issuer', async () => {
    expect(await codeOf(issueCertificate(await req({ profile: 'root' })))).toBe('GH_ERR_PROFILE');
    expect(await codeOf(issueCertificate(await req({ profile: 'self-signed-device' })))).toBe(
      'GH_ERR_PROFILE',
    );
  });
});
