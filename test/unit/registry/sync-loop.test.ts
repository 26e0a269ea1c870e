import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRegistryCache } from '../../../src/registry/cache.ts';
import { fetchFullScope, retryDelayMs } from '../../../src/registry/sync.ts';
import { makeTempDir } from '../../helpers/pki.ts';
import { captureLogger, clock, EDGE, FakeSource, rec, SETTINGS } from './fakes.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('retryDelayMs', () => {
  it('doubles from 1 s to a 60 s cap, with half of each delay random', () => {
    const max = (n: number) => retryDelayMs(n, () => 1);
    const min = (n: number) => retryDelayMs(n, () => 0);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50, 10_000].map(max)).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000,
    ]);
    expect([1, 2, 7].map(min)).toEqual([500, 1000, 30000]);
    for (let i = 0; i < 100; i++) {
      const d = retryDelayMs(3);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });
});

describe('fetchFullScope', () => {
  it('stops a scope that never ends at the page bound', async () => {
    const source = new FakeSource();
    let n = 0;
    source.pageOverride = (_i, p) => ({ ...p, continuationLink: `/scope?page=${++n}` });
    await expect(fetchFullScope(source, EDGE, 25)).rejects.toMatchObject({
      code: 'GH_ERR_PROTOCOL',
      message: 'scope sync: more than 25 pages',
    });
    expect(source.pageCalls).toBe(25);
  });
});

describe('registry cache: sync timer', () => {
  it('retries with exponential backoff while upstream fails, then syncs every refresh interval', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const tmp = await makeTempDir('gatehouse-backoff-');
    const source = new FakeSource();
    source.failure = new Error('connect ECONNREFUSED 127.0.0.1:8443');
    const log = captureLogger();
    const t = clock();
    const cache = await createRegistryCache({
      dataDir: tmp.dir,
      edgeDeviceId: EDGE,
      settings: SETTINGS,
      source,
      logger: log.logger,
      now: t.now,
      random: () => 1, // the longest delay of each step, so the schedule is exact
    });
    cleanups.push(async () => {
      await cache.close();
      await tmp.cleanup();
    });

    await vi.advanceTimersByTimeAsync(0);
    expect(source.pageCalls).toBe(1);
    expect(cache.status()).toMatchObject({
      state: 'empty',
      lastError: 'connect ECONNREFUSED 127.0.0.1:8443',
    });

    const expected = [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000];
    for (const [i, delay] of expected.entries()) {
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(source.pageCalls, `before retry ${i + 1}`).toBe(i + 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(source.pageCalls, `retry ${i + 1}`).toBe(i + 2);
    }
    const retries = log.lines().filter((l) => l.msg === 'registry sync failed; will retry');
    expect(retries.map((l) => l.retryInMs)).toEqual([...expected, 60000]);

    source.failure = undefined;
    source.devices = [rec('a')];
    await vi.advanceTimersByTimeAsync(60000);
    expect(source.pageCalls).toBe(10);
    expect(cache.status()).toMatchObject({ state: 'synced', size: 1, lastError: undefined });

    await vi.advanceTimersByTimeAsync(SETTINGS.refreshIntervalSecs * 1000 - 1);
    expect(source.pageCalls).toBe(10);
    await vi.advanceTimersByTimeAsync(1);
    expect(source.pageCalls).toBe(11);

    // After a failure following success, backoff starts again from 1 s.
    source.failure = new Error('hub restarting');
    await vi.advanceTimersByTimeAsync(SETTINGS.refreshIntervalSecs * 1000);
    expect(source.pageCalls).toBe(12);
    expect(cache.status().state).toBe('offline');
    await vi.advanceTimersByTimeAsync(1000);
    expect(source.pageCalls).toBe(13);
  });

  it('stops its timer on close', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const tmp = await makeTempDir('gatehouse-backoff-');
    cleanups.push(tmp.cleanup);
    const source = new FakeSource();
    source.failure = new Error('down');
    const cache = await createRegistryCache({
      dataDir: tmp.dir,
      edgeDeviceId: EDGE,
      settings: SETTINGS,
      source,
      logger: captureLogger().logger,
    });
    await vi.advanceTimersByTimeAsync(0);
    await cache.close();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(source.pageCalls).toBe(1);
    expect(await cache.syncNow()).toBe(false);
    expect(cache.get('a')).toBeUndefined();
  });
});
