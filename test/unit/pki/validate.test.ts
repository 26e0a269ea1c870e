import { beforeAll, describe, expect, it } from 'vitest';
import {
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  generateKeyPair,
  type KeyType,
  validateChain,
} from '../../../src/pki/index.ts';
import { type BrokenChainSet, makeBrokenChains, rawCert } from '../../helpers/broken-chains.ts';

const T0 = new Date(Date.UTC(2026, 0, 15, 12, 0, 0));
const KEY_TYPES: readonly KeyType[] = ['ec-p256', 'rsa-2048'];

describe.each(KEY_TYPES)('validateChain (%s)', (keyType) => {
  let set: BrokenChainSet;
  beforeAll(async () => {
    set = await makeBrokenChains(keyType, T0);
  }, 60_000);

  it('accepts the good device chain and returns the path leaf → intermediate → root', () => {
    const result = validateChain(set.good);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.path.map((c) => c.subjectCn)).toEqual([
      'device-good',
      'Gatehouse Test Intermediate CA',
      'Gatehouse Test Root CA',
    ]);
  });

  it('accepts a server chain of depth 4 for serverAuth', async () => {
    const server = await set.pki.server('gw.example.test', { now: T0 });
    const result = validateChain({
      leaf: server.cert,
      intermediates: [set.pki.edgeCa.cert, set.pki.intermediate.cert],
      anchors: [set.pki.root.cert],
      at: T0.getTime() + 60_000,
      purpose: EKU_SERVER_AUTH,
    });
    expect(result.ok).toBe(true);
  });

  it('refuses every broken chain of the table with its reason', () => {
    // Computed first, compared once: a failure shows the whole table.
    const got = set.cases.map((c) => {
      const r = validateChain(c);
      return { name: c.name, reason: r.ok ? 'accepted' : r.reason };
    });
    expect(got).toEqual(set.cases.map((c) => ({ name: c.name, reason: c.expected })));
    expect(set.cases.length).toBeGreaterThanOrEqual(12);
  });

  it('names the failing certificate in the refusal', () => {
    const expiredIssuer = set.cases.find((c) => c.name === 'issuer expired before its leaf');
    const r = expiredIssuer && validateChain(expiredIssuer);
    expect(r && !r.ok && r.at.subjectCn).toBe('Short-Lived CA');
    expect(r && !r.ok && r.detail).toMatch(/^Short-Lived CA: expired at /);
  });

  it('accepts at the exact bounds of validity and refuses one millisecond outside', () => {
    const leaf = set.good.leaf;
    const at = (t: number) => validateChain({ ...set.good, at: t });
    expect(at(leaf.notBefore).ok).toBe(true);
    expect(at(leaf.notAfter).ok).toBe(true);
    expect(at(leaf.notBefore - 1)).toMatchObject({ ok: false, reason: 'not-yet-valid' });
    expect(at(leaf.notAfter + 1)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('fails closed on a NaN instant', () => {
    expect(validateChain({ ...set.good, at: Number.NaN })).toMatchObject({
      ok: false,
      reason: 'not-yet-valid',
    });
  });

  it('refuses when no anchor is given at all', () => {
    expect(validateChain({ ...set.good, anchors: [] })).toMatchObject({
      ok: false,
      reason: 'unknown-issuer',
    });
  });

  it('accepts a self-signed leaf that is itself the anchor (pinning)', async () => {
    const self = await set.pki.selfSigned('pinned', { now: T0 });
    const r = validateChain({
      leaf: self.cert,
      anchors: [self.cert],
      at: T0.getTime(),
      purpose: EKU_CLIENT_AUTH,
    });
    expect(r.ok).toBe(true);
  });

  it('prefers the anchor over a copy of it sent as an intermediate and stops at maxDepth', () => {
    const r = validateChain({ ...set.good, intermediates: [set.pki.intermediate.cert, set.pki.root.cert] });
    expect(r.ok && r.path.length).toBe(3);
    expect(validateChain({ ...set.good, maxDepth: 2 })).toMatchObject({
      ok: false,
      reason: 'chain-too-long',
    });
  });

  it('ignores the EKU check when no purpose is asked, and honours anyExtendedKeyUsage', async () => {
    const server = set.cases.find((c) => c.name === 'server certificate used as client');
    expect(server && validateChain({ ...server, purpose: undefined }).ok).toBe(true);
    const anyEku = await rawCert({
      cn: 'device-any-eku',
      keys: await generateKeyPair(keyType),
      issuer: set.pki.intermediate,
      notBefore: T0.getTime() - 60_000,
      notAfter: T0.getTime() + 86_400_000,
      eku: ['2.5.29.37.0'],
    });
    const r = validateChain({ ...set.good, leaf: anyEku, purpose: EKU_CLIENT_AUTH });
    expect(r.ok).toBe(true);
  });
});
