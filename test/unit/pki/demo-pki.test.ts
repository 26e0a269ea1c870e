import { readFile, rm, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.ts';
import {
  type CertInfo,
  type DemoCredential,
  EKU_CLIENT_AUTH,
  ensureDemoPki,
  parseCertificatePem,
  parseCertificatesPem,
  validateChain,
} from '../../../src/pki/index.ts';
import { makeTempDir } from '../../helpers/pki.ts';

const T0 = new Date(Date.UTC(2026, 0, 15, 12, 0, 0));
const DAY = 86_400_000;

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir('gatehouse-demo-pki-');
});
afterEach(async () => {
  await tmp.cleanup();
});

async function chainOk(
  cred: DemoCredential,
  root: DemoCredential,
  at: number,
  self = false,
): Promise<boolean> {
  const chain = parseCertificatesPem(await readFile(cred.paths.chain, 'utf8'));
  const anchor = self ? (chain[0] as CertInfo) : parseCertificatePem(await readFile(root.paths.cert, 'utf8'));
  const leaf = chain[0] as CertInfo;
  return validateChain({ leaf, intermediates: chain.slice(1), anchors: [anchor], at }).ok;
}

describe('ensureDemoPki', () => {
  it('makes the whole set once, then reuses it unchanged', async () => {
    const first = await ensureDemoPki(tmp.dir, { now: T0, identities: ['gw-parent', 'gw-child'] });
    expect(first.created).toEqual([
      'root-ca',
      'intermediate-ca',
      'edge-ca-gatehouse-edge-ca',
      'identity-gw-parent',
      'identity-gw-child',
      'device-sensor-ca-01',
      'device-sensor-thumb-01',
    ]);
    const at = T0.getTime() + 60_000;
    for (const c of [first.intermediate, first.edgeCa, ...Object.values(first.identities)]) {
      expect(await chainOk(c, first.root, at)).toBe(true);
    }
    expect(await chainOk(first.devices['sensor-ca-01'] as DemoCredential, first.root, at)).toBe(true);
    expect(first.devices['sensor-thumb-01']?.selfSigned).toBe(true);
    expect(await chainOk(first.devices['sensor-thumb-01'] as DemoCredential, first.root, at, true)).toBe(
      true,
    );

    const again = await ensureDemoPki(tmp.dir, {
      now: new Date(T0.getTime() + DAY),
      identities: ['gw-parent', 'gw-child'],
    });
    expect(again.created).toEqual([]);
    expect(again.root.sha256).toBe(first.root.sha256);
    expect(again.devices['sensor-thumb-01']?.sha256).toBe(first.devices['sensor-thumb-01']?.sha256);
  });

  it('remakes only what is missing or broken below an intact CA', async () => {
    const first = await ensureDemoPki(tmp.dir, { now: T0 });
    await rm(first.devices['sensor-ca-01']?.paths.key as string);
    await writeFile(first.identities['gatehouse-gateway']?.paths.cert as string, 'garbage');
    const again = await ensureDemoPki(tmp.dir, { now: T0 });
    expect([...again.created].sort()).toEqual(['device-sensor-ca-01', 'identity-gatehouse-gateway']);
    expect(again.root.sha256).toBe(first.root.sha256);
  });

  it('renews the Edge CA when it would expire within a day, keeping the root', async () => {
    const first = await ensureDemoPki(tmp.dir, { now: T0 });
    const later = await ensureDemoPki(tmp.dir, { now: new Date(T0.getTime() + 89.5 * DAY) });
    expect(later.created).toEqual(['edge-ca-gatehouse-edge-ca']);
    expect(later.edgeCa.sha256).not.toBe(first.edgeCa.sha256);
    expect(later.root.sha256).toBe(first.root.sha256);
  });

  it('a new root (here: another key type) remakes everything under it', async () => {
    await ensureDemoPki(tmp.dir, { now: T0 });
    const rsa = await ensureDemoPki(tmp.dir, { now: T0, keyType: 'rsa-2048', selfSignedDevices: [] });
    expect(rsa.created).toEqual([
      'root-ca',
      'intermediate-ca',
      'edge-ca-gatehouse-edge-ca',
      'identity-gatehouse-gateway',
      'device-sensor-ca-01',
    ]);
    const device = parseCertificatePem(
      await readFile(rsa.devices['sensor-ca-01']?.paths.cert as string, 'utf8'),
    );
    expect(device.keyAlgorithm).toBe('rsa');
    expect(await chainOk(rsa.devices['sensor-ca-01'] as DemoCredential, rsa.root, T0.getTime())).toBe(true);
    expect(device.extKeyUsage).toEqual([EKU_CLIENT_AUTH]);
  }, 30_000);

  it('refuses an Edge CA name equal to the hostname and a device listed twice', async () => {
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: unknown) => (isGatehouseError(e) ? e.code : String(e)),
      );
    expect(
      await codeOf(ensureDemoPki(tmp.dir, { now: T0, edgeCaName: 'gw.local', hostname: 'gw.local' })),
    ).toBe('GH_ERR_PROFILE');
    expect(
      await codeOf(ensureDemoPki(tmp.dir, { now: T0, caDevices: ['same'], selfSignedDevices: ['same'] })),
    ).toBe('GH_ERR_INPUT');
  });
});
