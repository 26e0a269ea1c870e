import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.ts';
import { createRegistryCache } from '../../../src/registry/cache.ts';
import type { RegistryCache, RegistryChange } from '../../../src/registry/types.ts';
import { makeTempDir, makeTestPki, type TestPki } from '../../helpers/pki.ts';
import { captureLogger, clock, EDGE, FakeSource, rec, SETTINGS, scopeCa } from './fakes.ts';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: { source?: FakeSource; now?: () => number; cacheSize?: number } = {}) {
  const tmp = await makeTempDir('gatehouse-registry-');
  const source = opts.source ?? new FakeSource();
  const cache = await createRegistryCache({
    dataDir: tmp.dir,
    edgeDeviceId: EDGE,
    settings: { ...SETTINGS, cacheSize: opts.cacheSize ?? SETTINGS.cacheSize },
    source,
    logger: silentLogger(),
    autoSync: false,
    ...(opts.now ? { now: opts.now } : {}),
  });
  cleanups.push(async () => {
    await cache.close();
    await tmp.cleanup();
  });
  const changes: RegistryChange[] = [];
  cache.onChange((c) => changes.push(c));
  return { cache, source, changes, dir: tmp.dir };
}

function ids(cache: RegistryCache): string[] {
  return [...cache.records()].map((r) => r.deviceId);
}

describe('registry cache: full sync', () => {
  it('follows every page and serves the records, the CAs and the status', async () => {
    const t = clock();
    const { cache, source } = await setup({ now: t.now });
    source.devices = ['d1', 'd2', 'd3', 'd4', 'd5'].map((id) => rec(id));
    source.cas = [scopeCa(pki.intermediate.cert)];
    expect(cache.status()).toEqual({ state: 'empty', size: 0, lastSyncAt: undefined, lastError: undefined });

    expect(await cache.syncNow()).toBe(true);
    expect(source.pageCalls).toBe(3);
    expect(ids(cache)).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
    expect(cache.get('d3')?.deviceId).toBe('d3');
    expect(cache.get('nope')).toBeUndefined();
    expect(cache.inScope('d5')).toBe(true);
    expect(cache.inScope('nope')).toBe(false);
    expect(cache.verifiedCas().map((c) => c.sha256)).toEqual([pki.intermediate.cert.sha256]);
    expect(cache.status()).toEqual({ state: 'synced', size: 5, lastSyncAt: t.now(), lastError: undefined });
  });

  it('serves records frozen, so a caller cannot change what others read', async () => {
    const { cache, source } = await setup();
    source.devices = [rec('d1')];
    await cache.syncNow();
    const r = cache.get('d1');
    expect(Object.isFrozen(r)).toBe(true);
    expect(Object.isFrozen(r?.authentication)).toBe(true);
    expect(Object.isFrozen(r?.capabilities)).toBe(true);
    expect(() => {
      (r as { status: string }).status = 'disabled';
    }).toThrow(TypeError);
    expect(cache.get('d1')?.status).toBe('enabled');
  });

  it('removes records absent from a later sync and reports disabled, removed and updated ids', async () => {
    const { cache, source, changes } = await setup();
    const keep = rec('keep');
    source.devices = [
      keep,
      rec('gone'),
      rec('to-disable'),
      rec('rekeyed'),
      rec('was-disabled', { disabled: true }),
    ];
    await cache.syncNow();
    expect(changes).toEqual([]); // additions need no action from the broker
    expect(cache.get('rekeyed')?.authentication).toEqual({
      type: 'selfSigned',
      primaryThumbprint: 'A'.repeat(64),
    });

    source.devices = [
      keep,
      rec('to-disable', { disabled: true }),
      rec('rekeyed', { thumb: 'b'.repeat(64) }),
      rec('was-disabled', { disabled: true }),
      rec('new'),
    ];
    expect(await cache.syncNow()).toBe(true);
    expect(changes).toEqual([
      { disabledOrRemoved: ['to-disable', 'gone'], updated: ['rekeyed', 'was-disabled'], casChanged: false },
    ]);
    expect(cache.get('gone')).toBeUndefined();
    expect(cache.get('to-disable')?.status).toBe('disabled');
    // The LRU held the old record; the sync must have replaced it (thumbprints are normalized upper-case).
    expect(cache.get('rekeyed')?.authentication).toEqual({
      type: 'selfSigned',
      primaryThumbprint: 'B'.repeat(64),
    });
    expect(ids(cache)).toEqual(['keep', 'new', 'rekeyed', 'to-disable', 'was-disabled']);
    expect(cache.status().size).toBe(5);
  });

  it('an empty scope from upstream empties the cache', async () => {
    const { cache, source, changes } = await setup();
    source.devices = [rec('a'), rec('b')];
    await cache.syncNow();
    source.devices = [];
    expect(await cache.syncNow()).toBe(true);
    expect(ids(cache)).toEqual([]);
    expect(changes.at(-1)?.disabledOrRemoved).toEqual(['a', 'b']);
    expect(cache.status().state).toBe('synced');
  });

  it('keeps the same CA array until the CA list changes, then re-checks CA-authenticated devices', async () => {
    const { cache, source, changes } = await setup();
    source.devices = [rec('ca-dev', { ca: true }), rec('thumb-dev')];
    source.cas = [scopeCa(pki.intermediate.cert)];
    await cache.syncNow();
    // From no CAs to one is a change too (sessions may exist from the snapshot of an earlier run).
    expect(changes).toEqual([{ disabledOrRemoved: [], updated: ['ca-dev'], casChanged: true }]);
    changes.length = 0;
    const first = cache.verifiedCas();
    await cache.syncNow();
    expect(cache.verifiedCas()).toBe(first);
    expect(changes).toEqual([]);

    source.cas = [scopeCa(pki.intermediate.cert), scopeCa(pki.edgeCa.cert)];
    await cache.syncNow();
    expect(cache.verifiedCas()).not.toBe(first);
    expect(cache.verifiedCas()).toHaveLength(2);
    expect(changes).toEqual([{ disabledOrRemoved: [], updated: ['ca-dev'], casChanged: true }]);
  });

  it('refuses malformed pages and keeps the previous scope untouched (atomic replace)', async () => {
    const { cache, source } = await setup();
    const leaf = await pki.device('leaf-not-a-ca');
    source.devices = [rec('a'), rec('b'), rec('c')];
    await cache.syncNow();
    source.devices = [rec('x'), rec('y'), rec('z')];

    const hostile: Array<[string, (i: number, p: Record<string, unknown>) => unknown, RegExp]> = [
      [
        'bad thumbprint on page 2',
        (i, p) =>
          i === 1
            ? {
                ...p,
                devices: [{ ...rec('z'), authentication: { type: 'selfSigned', primaryThumbprint: 'xyz' } }],
              }
            : p,
        /devices\.0\.authentication\.primaryThumbprint: not a SHA-1 or SHA-256 thumbprint/,
      ],
      ['extra field', (_i, p) => ({ ...p, admin: true }), /Unrecognized key: "admin"/],
      [
        'another edge device',
        (_i, p) => ({ ...p, edgeDeviceId: 'someone-else' }),
        /for edge device "someone-else", not "gw-1"/,
      ],
      ['not an object', () => 'hello', /scope page: malformed response/],
      [
        'device id with a slash',
        (_i, p) => ({ ...p, devices: [{ ...rec('x'), deviceId: 'a/b' }] }),
        /devices\.0\.deviceId: not a valid device id/,
      ],
      [
        'CA whose thumbprint lies',
        (_i, p) => ({
          ...p,
          caCertificates: [{ ...scopeCa(pki.intermediate.cert), thumbprint: pki.root.cert.sha256 }],
        }),
        /thumbprint does not match the certificate/,
      ],
      [
        'CA that is not a CA',
        (_i, p) => ({ ...p, caCertificates: [scopeCa(leaf.cert)] }),
        /not a CA certificate/,
      ],
      [
        'CA entry with two certificates',
        (_i, p) => ({
          ...p,
          caCertificates: [
            {
              ...scopeCa(pki.intermediate.cert),
              certificatePem: pki.intermediate.cert.pem + pki.root.cert.pem,
            },
          ],
        }),
        /must hold exactly one certificate/,
      ],
      [
        'a continuation loop',
        (_i, p) => ({ ...p, devices: [], continuationLink: '/scope?page=0' }),
        /continuation link repeats/,
      ],
    ];
    for (const [name, override, reason] of hostile) {
      source.pageOverride = override as (i: number, p: unknown) => unknown;
      expect(await cache.syncNow(), name).toBe(false);
      expect(ids(cache), name).toEqual(['a', 'b', 'c']);
      expect(cache.status().state, name).toBe('offline');
      expect(cache.status().lastError, name).toMatch(reason);
    }
    source.pageOverride = undefined;
    expect(await cache.syncNow()).toBe(true);
    expect(ids(cache)).toEqual(['x', 'y', 'z']);
    expect(cache.status().lastError).toBeUndefined();
  });

  it('syncNow calls made together share one sync', async () => {
    const { cache, source } = await setup();
    source.devices = [rec('a')];
    const results = await Promise.all([cache.syncNow(), cache.syncNow(), cache.syncNow()]);
    expect(results).toEqual([true, true, true]);
    expect(source.pageCalls).toBe(1);
  });

  it('reports stale when the last sync is older than two refresh intervals', async () => {
    const t = clock();
    const { cache, source } = await setup({ now: t.now });
    source.devices = [rec('a')];
    await cache.syncNow();
    t.advance(2 * SETTINGS.refreshIntervalSecs * 1000 + 1);
    expect(cache.status().state).toBe('stale');
  });

  it('a listener that throws does not stop the sync or other listeners', async () => {
    const log = captureLogger();
    const tmp = await makeTempDir('gatehouse-registry-');
    const source = new FakeSource();
    const cache = await createRegistryCache({
      dataDir: tmp.dir,
      edgeDeviceId: EDGE,
      settings: SETTINGS,
      source,
      logger: log.logger,
      autoSync: false,
    });
    cleanups.push(async () => {
      await cache.close();
      await tmp.cleanup();
    });
    const seen: RegistryChange[] = [];
    cache.onChange(() => {
      throw new Error('listener bug');
    });
    cache.onChange((c) => seen.push(c));
    source.devices = [rec('a')];
    await cache.syncNow();
    source.devices = [];
    expect(await cache.syncNow()).toBe(true);
    expect(seen).toHaveLength(1);
    expect(log.lines().some((l) => l.msg === 'registry change listener threw')).toBe(true);
  });

  it('answers from SQLite when the LRU is smaller than the scope, and records() pages without holding a cursor', async () => {
    const { cache, source } = await setup({ cacheSize: 2 });
    source.pageSize = 1000;
    source.devices = Array.from({ length: 1203 }, (_, i) => rec(`dev-${String(i).padStart(4, '0')}`));
    await cache.syncNow();
    let n = 0;
    for (const r of cache.records()) {
      // Reads interleaved with the iteration must work (better-sqlite3 refuses them during an open cursor).
      expect(cache.get(r.deviceId)?.deviceId).toBe(r.deviceId);
      n++;
    }
    expect(n).toBe(1203);
    expect(cache.get('dev-0000')?.deviceId).toBe('dev-0000');
    expect(cache.get('dev-1202')?.deviceId).toBe('dev-1202');
  });

  it('refuses ids outside the device id rules without a lookup', async () => {
    const { cache, source } = await setup();
    source.devices = [rec('a')];
    await cache.syncNow();
    expect(cache.get('')).toBeUndefined();
    expect(cache.get('a/b')).toBeUndefined();
    expect(cache.get('x'.repeat(129))).toBeUndefined();
    expect(await cache.lookup('#')).toBeUndefined();
    expect(source.oneCalls).toEqual([]);
  });
});

describe('registry cache: subtree questions', () => {
  it('mayActFor follows parents from enabled edge actors only, and stops on cycles', async () => {
    const { cache, source } = await setup();
    source.pageSize = 100;
    source.devices = [
      rec('child-gw', { edge: true }),
      rec('grandchild-gw', { edge: true, parentId: 'child-gw' }),
      rec('sensor', { parentId: 'grandchild-gw' }),
      rec('direct-sensor'),
      rec('off-gw', { edge: true, disabled: true }),
      rec('off-sensor', { parentId: 'off-gw' }),
      rec('leaf', { parentId: 'direct-sensor' }),
      rec('loop-a', { edge: true, parentId: 'loop-b' }),
      rec('loop-b', { edge: true, parentId: 'loop-a' }),
    ];
    await cache.syncNow();
    expect(cache.mayActFor('child-gw', 'sensor')).toBe(true);
    expect(cache.mayActFor('child-gw', 'grandchild-gw')).toBe(true);
    expect(cache.mayActFor('grandchild-gw', 'sensor')).toBe(true);
    expect(cache.mayActFor('grandchild-gw', 'child-gw')).toBe(false);
    expect(cache.mayActFor('child-gw', 'direct-sensor')).toBe(false);
    expect(cache.mayActFor('child-gw', 'child-gw')).toBe(false);
    expect(cache.mayActFor('off-gw', 'off-sensor')).toBe(false);
    expect(cache.mayActFor('direct-sensor', 'leaf')).toBe(false); // not an edge device
    expect(cache.mayActFor('unknown', 'sensor')).toBe(false);
    expect(cache.mayActFor('child-gw', 'unknown')).toBe(false);
    expect(cache.mayActFor('loop-a', 'sensor')).toBe(false);
    expect(cache.mayActFor('loop-a', 'loop-b')).toBe(true);
  });
});
