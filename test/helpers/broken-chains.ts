import {
  type CertInfo,
  type ChainRefusal,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  generateKeyPair,
  type KeyPair,
  type KeyType,
  parseCertificateDer,
} from '../../src/pki/index.ts';
import { x509 } from '../../src/pki/webcrypto.ts';
import { makeTestPki, type TestPki } from './pki.ts';

/**
 * One chain that must be refused, by validateChain and by `openssl verify` alike. Some of these
 * certificates cannot come out of the profiles on purpose (a CA:FALSE issuer, an issuer that expires
 * before its leaf…), so they are built here with @peculiar/x509's generator directly.
 */
export interface BrokenChain {
  readonly name: string;
  readonly expected: ChainRefusal;
  readonly leaf: CertInfo;
  readonly intermediates: readonly CertInfo[];
  readonly anchors: readonly CertInfo[];
  readonly at: number;
  readonly purpose?: string;
  /** What `openssl verify` prints for it. */
  readonly openssl: RegExp;
}

export interface BrokenChainSet {
  readonly pki: TestPki;
  /** A good device chain at `at`, the control every broken case differs from. */
  readonly good: Omit<BrokenChain, 'name' | 'expected' | 'openssl'>;
  readonly cases: readonly BrokenChain[];
}

const DAY = 86_400_000;

export interface RawCertOptions {
  readonly cn: string;
  readonly keys: KeyPair;
  /** Signer and its certificate; absent = self-signed. */
  readonly issuer?: { readonly cert: CertInfo; readonly keys: KeyPair };
  readonly notBefore: number;
  readonly notAfter: number;
  readonly ca?: boolean;
  readonly pathLen?: number;
  /** keyUsage flags; default keyCertSign|cRLSign for CAs, digitalSignature otherwise. */
  readonly keyUsage?: number;
  readonly eku?: readonly string[];
  readonly extra?: readonly x509.Extension[];
}

/** A certificate exactly as asked, with none of the profiles' rules applied. */
export async function rawCert(o: RawCertOptions): Promise<CertInfo> {
  const F = x509.KeyUsageFlags;
  const signer = o.issuer?.keys ?? o.keys;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(o.ca ?? false, o.ca ? o.pathLen : undefined, true),
    new x509.KeyUsagesExtension(o.keyUsage ?? (o.ca ? F.keyCertSign | F.cRLSign : F.digitalSignature), true),
    await x509.SubjectKeyIdentifierExtension.create(o.keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey),
    ...(o.eku ? [new x509.ExtendedKeyUsageExtension([...o.eku])] : []),
    ...(o.extra ?? []),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: `01${Buffer.from(o.cn).toString('hex').slice(0, 30)}`,
    subject: `CN=${o.cn}`,
    issuer: o.issuer ? o.issuer.cert.subject : `CN=${o.cn}`,
    notBefore: new Date(o.notBefore),
    notAfter: new Date(o.notAfter),
    publicKey: o.keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm:
      signer.type === 'ec-p256'
        ? { name: 'ECDSA', hash: 'SHA-256' }
        : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    extensions,
  });
  return parseCertificateDer(Buffer.from(cert.rawData));
}

/** The same certificate with the last byte of its signature flipped. */
export function tamperSignature(cert: CertInfo): CertInfo {
  const der = Buffer.from(cert.der);
  der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
  return parseCertificateDer(der);
}

/** The broken-chain table for one key type, every certificate issued at `t0`. */
export async function makeBrokenChains(keyType: KeyType, t0: Date): Promise<BrokenChainSet> {
  const T0 = t0.getTime();
  const AT = T0 + 3_600_000;
  const pki = await makeTestPki({ keyType, now: t0 });
  const { root, intermediate, edgeCa } = pki;
  const device = await pki.device('device-good', { now: t0, days: 30 });
  const server = await pki.server('gw.example.test', { now: t0 });
  const other = await makeTestPki({ keyType, now: t0 });
  const stranger = await other.device('device-stranger', { now: t0 });
  const keys = () => generateKeyPair(keyType);
  const inter = [intermediate.cert];
  const anchors = [root.cert];
  const base = { intermediates: inter, anchors, at: AT };

  // An intermediate that ends after one day, with a leaf made to outlive it.
  const shortKeys = await keys();
  const shortCa = await rawCert({
    cn: 'Short-Lived CA',
    keys: shortKeys,
    issuer: root,
    notBefore: T0 - 60_000,
    notAfter: T0 + DAY,
    ca: true,
  });
  const outliving = await rawCert({
    cn: 'device-outliving',
    keys: await keys(),
    issuer: { cert: shortCa, keys: shortKeys },
    notBefore: T0 - 60_000,
    notAfter: T0 + 30 * DAY,
    eku: [EKU_CLIENT_AUTH],
  });
  // A leaf "issued" by a device certificate (CA:FALSE).
  const underLeaf = await rawCert({
    cn: 'device-under-leaf',
    keys: await keys(),
    issuer: device,
    notBefore: T0 - 60_000,
    notAfter: T0 + 10 * DAY,
    eku: [EKU_CLIENT_AUTH],
  });
  // A CA whose keyUsage lacks keyCertSign.
  const noSignKeys = await keys();
  const noSignCa = await rawCert({
    cn: 'No-CertSign CA',
    keys: noSignKeys,
    issuer: intermediate,
    notBefore: T0 - 60_000,
    notAfter: T0 + 100 * DAY,
    ca: true,
    keyUsage: x509.KeyUsageFlags.digitalSignature,
  });
  const underNoSign = await rawCert({
    cn: 'device-under-nosign',
    keys: await keys(),
    issuer: { cert: noSignCa, keys: noSignKeys },
    notBefore: T0 - 60_000,
    notAfter: T0 + 10 * DAY,
    eku: [EKU_CLIENT_AUTH],
  });
  // A sub-CA under the Edge CA, whose pathLen 0 forbids it.
  const subKeys = await keys();
  const subCa = await rawCert({
    cn: 'Sub CA under Edge CA',
    keys: subKeys,
    issuer: edgeCa,
    notBefore: T0 - 60_000,
    notAfter: T0 + 60 * DAY,
    ca: true,
  });
  const underSub = await rawCert({
    cn: 'device-under-sub',
    keys: await keys(),
    issuer: { cert: subCa, keys: subKeys },
    notBefore: T0 - 60_000,
    notAfter: T0 + 10 * DAY,
    eku: [EKU_CLIENT_AUTH],
  });
  const criticalExt = await rawCert({
    cn: 'device-critical-ext',
    keys: await keys(),
    issuer: intermediate,
    notBefore: T0 - 60_000,
    notAfter: T0 + 10 * DAY,
    eku: [EKU_CLIENT_AUTH],
    extra: [new x509.Extension('1.3.6.1.4.1.55555.1', true, new Uint8Array([0x05, 0x00]))],
  });
  const selfSigned = await pki.selfSigned('device-self', { now: t0 });

  const cases: BrokenChain[] = [
    {
      name: 'expired leaf',
      expected: 'expired',
      leaf: device.cert,
      ...base,
      at: T0 + 31 * DAY,
      openssl: /certificate has expired/,
    },
    {
      name: 'leaf not yet valid',
      expected: 'not-yet-valid',
      leaf: device.cert,
      ...base,
      at: T0 - 3_600_000,
      openssl: /certificate is not yet valid/,
    },
    {
      name: 'issuer expired before its leaf',
      expected: 'expired',
      leaf: outliving,
      intermediates: [shortCa],
      anchors,
      at: T0 + 2 * DAY,
      openssl: /certificate has expired/,
    },
    {
      name: 'issuer from another PKI',
      expected: 'unknown-issuer',
      leaf: stranger.cert,
      intermediates: [other.intermediate.cert],
      anchors,
      at: AT,
      openssl: /unable to get local issuer certificate/,
    },
    {
      name: 'intermediate missing',
      expected: 'unknown-issuer',
      leaf: device.cert,
      intermediates: [],
      anchors,
      at: AT,
      openssl: /unable to get local issuer certificate/,
    },
    {
      name: 'self-signed leaf not trusted',
      expected: 'unknown-issuer',
      leaf: selfSigned.cert,
      intermediates: [],
      anchors,
      at: AT,
      openssl: /self[- ]signed certificate/,
    },
    {
      name: 'tampered leaf signature',
      expected: 'bad-signature',
      leaf: tamperSignature(device.cert),
      ...base,
      openssl: /certificate signature failure/,
    },
    {
      name: 'issuer is CA:FALSE',
      expected: 'issuer-not-ca',
      leaf: underLeaf,
      intermediates: [device.cert, intermediate.cert],
      anchors,
      at: AT,
      openssl: /invalid CA certificate/,
    },
    {
      name: 'issuer lacks keyCertSign',
      expected: 'issuer-no-keycertsign',
      leaf: underNoSign,
      intermediates: [noSignCa, intermediate.cert],
      anchors,
      at: AT,
      openssl: /invalid CA certificate|key usage does not include certificate signing/,
    },
    {
      name: 'Edge CA pathLen 0 exceeded',
      expected: 'path-length',
      leaf: underSub,
      intermediates: [subCa, edgeCa.cert, intermediate.cert],
      anchors,
      at: AT,
      openssl: /path length constraint exceeded/,
    },
    {
      name: 'server certificate used as client',
      expected: 'wrong-eku',
      leaf: server.cert,
      intermediates: [edgeCa.cert, intermediate.cert],
      anchors,
      at: AT,
      purpose: EKU_CLIENT_AUTH,
      openssl: /unsu(pported|itable) certificate purpose/,
    },
    {
      name: 'client certificate used as server',
      expected: 'wrong-eku',
      leaf: device.cert,
      ...base,
      purpose: EKU_SERVER_AUTH,
      openssl: /unsu(pported|itable) certificate purpose/,
    },
    {
      name: 'unknown critical extension',
      expected: 'critical-extension',
      leaf: criticalExt,
      ...base,
      openssl: /unhandled critical extension/,
    },
  ];
  return { pki, good: { leaf: device.cert, ...base, purpose: EKU_CLIENT_AUTH }, cases };
}
