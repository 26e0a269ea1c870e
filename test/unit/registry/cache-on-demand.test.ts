import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.ts';
import { createRegistryCache } from '../../../src/registry/cache.ts';
import { OnDemandGate } from '../../../src/registry/on-demand-gate.ts';
import type { RegistryChange } from '../../../src/registry/types.ts';
import { makeTempDir, makeTestPki, type TestPki } from '../../helpers/pki.ts';
import { clock, EDGE, FakeSource, rec, SETTINGS, scopeCa } from './fakes.ts';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: { perSecond?: number; dir?: string; source?: FakeSource } = {}) {
  const t = clock();
  const tmp = opts.dir
    ? { dir: opts.dir, cleanup: async () => {} }
    : await makeTempDir('gatehouse-ondemand-');
  const source = opts.source ?? new FakeSource();
  const cache = await createRegistryCache({
    dataDir: tmp.dir,
    edgeDeviceId: EDGE,
    settings: SETTINGS, // on-demand every 30 s per id, "missing" remembered 10 s
    source,
    logger: silentLogger(),
    autoSync: false,
    now: t.now,
    ...(opts.perSecond ? { onDemandPerSecond: opts.perSecond } : {}),
  });
  cleanups.push(async () => {
    await cache.close();
    await tmp.cleanup();
  });
  const changes: RegistryChange[] = [];
  cache.onChange((c) => changes.push(c));
  return { cache, source, changes, t, dir: tmp.dir };
}

describe('registry cache: on-demand lookups', () => {
  it('fetches an unknown device once, stores it, and serves it from then on', async () => {
    const { cache, source, dir } = await setup();
    source.devices = [rec('late')];
    expect(cache.get('late')).toBeUndefined();
    expect((await cache.lookup('late'))?.deviceId).toBe('late');
    expect(cache.get('late')?.deviceId).toBe('late');
    expect(await cache.lookup('late')).toBeDefined();
    expect(source.oneCalls).toEqual(['late']);
    expect(cache.status().size).toBe(1);

    // It was written to the snapshot: a restarted gateway knows it while offline.
    await cache.close();
    const offline = new FakeSource();
    offline.failure = new Error('hub down');
    const reopened = await setup({ dir, source: offline });
    expect(reopened.cache.get('late')?.deviceId).toBe('late');
  });

  it('remembers "not found" for negative_ttl_secs and asks at most once per id per interval', async () => {
    const { cache, source, t } = await setup();
    expect(await cache.lookup('ghost')).toBeUndefined();
    expect(await cache.lookup('ghost')).toBeUndefined();
    expect(source.oneCalls).toEqual(['ghost']);

    source.devices = [rec('ghost')];
    t.advance(10_001); // negative entry expired, but the per-id interval (30 s) has not
    expect(await cache.lookup('ghost')).toBeUndefined();
    expect(source.oneCalls).toEqual(['ghost']);

    t.advance(20_000);
    expect((await cache.lookup('ghost'))?.deviceId).toBe('ghost');
    expect(source.oneCalls).toEqual(['ghost', 'ghost']);
  });

  it('answers a remembered "not found" without the snapshot, and forgets it when a sync adds the id', async () => {
    const { cache, source } = await setup();
    expect(await cache.lookup('ghost')).toBeUndefined();
    expect(cache.get('ghost')).toBeUndefined();
    expect(cache.inScope('ghost')).toBe(false);
    source.devices = [rec('ghost')];
    expect(await cache.syncNow()).toBe(true);
    expect(cache.get('ghost')?.deviceId).toBe('ghost');
  });

  it('does not remember upstream failures as "not found"', async () => {
    const { cache, source, t } = await setup();
    source.failure = new Error('connection refused');
    expect(await cache.lookup('flaky')).toBeUndefined();
    source.failure = undefined;
    source.devices = [rec('flaky')];
    t.advance(30_000);
    expect((await cache.lookup('flaky'))?.deviceId).toBe('flaky');
    expect(source.oneCalls).toEqual(['flaky', 'flaky']);
  });

  it('bounds the total on-demand rate over all ids (token bucket)', async () => {
    const { cache, source, t } = await setup({ perSecond: 5 });
    const flood = Array.from({ length: 50 }, (_, i) => `unknown-${i}`);
    await Promise.all(flood.map((id) => cache.lookup(id)));
    expect(source.oneCalls).toHaveLength(5);

    t.advance(1000);
    await Promise.all(flood.map((id) => cache.lookup(id)));
    expect(source.oneCalls).toHaveLength(10);
    expect(new Set(source.oneCalls).size).toBe(10);
  });

  it('shares one fetch between concurrent lookups of the same id', async () => {
    const { cache, source } = await setup();
    source.devices = [rec('busy')];
    source.holdOne = true;
    const pending = [cache.lookup('busy'), cache.lookup('busy'), cache.lookup('busy')];
    await new Promise((r) => setImmediate(r));
    source.release();
    const results = await Promise.all(pending);
    expect(results.map((r) => r?.deviceId)).toEqual(['busy', 'busy', 'busy']);
    expect(source.oneCalls).toEqual(['busy']);
  });

  it('refuses an answer about another device or another edge device', async () => {
    const { cache, source, t } = await setup();
    source.oneOverride = () => ({ edgeDeviceId: EDGE, device: rec('other'), caCertificates: [] });
    expect(await cache.lookup('asked')).toBeUndefined();
    expect(cache.get('other')).toBeUndefined();
    source.oneOverride = () => ({ edgeDeviceId: 'elsewhere', device: rec('asked2'), caCertificates: [] });
    t.advance(30_000);
    expect(await cache.lookup('asked2')).toBeUndefined();
    source.oneOverride = () => ({
      edgeDeviceId: EDGE,
      device: { ...rec('asked3'), status: 'maybe' },
      caCertificates: [],
    });
    expect(await cache.lookup('asked3')).toBeUndefined();
    expect(cache.status().size).toBe(0);
  });

  it('refresh() applies a changed thumbprint and reports it', async () => {
    const { cache, source, changes } = await setup();
    source.devices = [rec('dev')];
    await cache.syncNow();
    source.devices = [rec('dev', { thumb: 'C'.repeat(64) })];
    const r = await cache.refresh('dev');
    expect(r?.authentication).toEqual({ type: 'selfSigned', primaryThumbprint: 'C'.repeat(64) });
    expect(cache.get('dev')?.authentication).toEqual({
      type: 'selfSigned',
      primaryThumbprint: 'C'.repeat(64),
    });
    expect(changes).toEqual([{ disabledOrRemoved: [], updated: ['dev'], casChanged: false }]);
  });

  it('refresh() of a device upstream no longer has removes it and reports it', async () => {
    const { cache, source, changes } = await setup();
    source.devices = [rec('dev'), rec('other')];
    await cache.syncNow();
    source.devices = [rec('other')];
    expect(await cache.refresh('dev')).toBeUndefined();
    expect(cache.get('dev')).toBeUndefined();
    expect(cache.status().size).toBe(1);
    expect(changes).toEqual([{ disabledOrRemoved: ['dev'], updated: [], casChanged: false }]);
  });

  it('refresh() reports a device disabled upstream', async () => {
    const { cache, source, changes } = await setup();
    source.devices = [rec('dev')];
    await cache.syncNow();
    source.devices = [rec('dev', { disabled: true })];
    expect((await cache.refresh('dev'))?.status).toBe('disabled');
    expect(changes).toEqual([{ disabledOrRemoved: ['dev'], updated: [], casChanged: false }]);
  });

  it('takes a newer verified CA list from an on-demand answer', async () => {
    const { cache, source, changes } = await setup();
    source.devices = [rec('ca-dev', { ca: true })];
    source.cas = [scopeCa(pki.intermediate.cert)];
    expect((await cache.lookup('ca-dev'))?.deviceId).toBe('ca-dev');
    expect(cache.verifiedCas().map((c) => c.sha256)).toEqual([pki.intermediate.cert.sha256]);
    expect(changes).toEqual([{ disabledOrRemoved: [], updated: ['ca-dev'], casChanged: true }]);
  });
});

describe('OnDemandGate', () => {
  it('says why a fetch is refused', () => {
    const t = clock();
    const gate = new OnDemandGate({
      minIntervalMs: 1000,
      negativeTtlMs: 5000,
      ratePerSecond: 2,
      maxTracked: 10,
      now: t.now,
    });
    expect(gate.admit('a')).toBe('allowed');
    expect(gate.admit('a')).toBe('too-soon');
    gate.rememberMissing('a');
    t.advance(1000);
    expect(gate.admit('a')).toBe('known-missing');
    gate.forgetMissing('a');
    expect(gate.admit('a')).toBe('allowed');
    expect(gate.admit('b')).toBe('allowed');
    expect(gate.admit('c')).toBe('rate-limited');
    t.advance(500);
    expect(gate.admit('c')).toBe('allowed');
  });

  it('keeps its tables bounded under id churn', () => {
    const t = clock();
    const gate = new OnDemandGate({
      minIntervalMs: 60_000,
      negativeTtlMs: 60_000,
      ratePerSecond: 1e9,
      maxTracked: 100,
      now: t.now,
    });
    for (let i = 0; i < 10_000; i++) {
      gate.admit(`id-${i}`);
      gate.rememberMissing(`id-${i}`);
    }
    const tables = gate as unknown as { lastFetch: { size: number }; missingUntil: { size: number } };
    expect(tables.lastFetch.size).toBe(100);
    expect(tables.missingUntil.size).toBe(100);
  });
});
