import { afterEach, describe, expect, it } from 'vitest';
import type { StoreAndForwardSettings } from '../../../src/config/types.ts';
import { isGatehouseError } from '../../../src/errors.ts';
import { MessageStore } from '../../../src/upstream/store.ts';
import { makeTempDir } from '../../helpers/pki.ts';

const T0 = Date.UTC(2025, 0, 1);
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Settings = Pick<StoreAndForwardSettings, 'timeToLiveSecs' | 'maxBytes' | 'fullPolicy'>;
const BASE: Settings = { timeToLiveSecs: 60, maxBytes: 1_000_000, fullPolicy: 'refuse' };

async function open(settings: Partial<Settings> = {}, clock = { t: T0 }, dir?: string) {
  const tmp = dir ? undefined : await makeTempDir('gh-store-');
  if (tmp) cleanups.push(tmp.cleanup);
  const storeDir = dir ?? (tmp as { dir: string }).dir;
  const store = new MessageStore({ dir: storeDir, settings: { ...BASE, ...settings }, now: () => clock.t });
  cleanups.push(() => store.close());
  return { store, dir: storeDir, clock };
}

const topic = (id: string, n: number) => `devices/${id}/messages/events/n=${n}`;
const payload = Buffer.alloc(10, 1);
/** What one message counts against max_bytes: topic + payload (single-digit n keeps it constant). */
const SIZE = Buffer.byteLength(topic('dev-abcd', 1)) + payload.length;

describe('MessageStore', () => {
  it('runs SQLite at the durability asked for: NORMAL by default, FULL (fsync per commit) on request', async () => {
    const tmp = await makeTempDir('gh-store-durability-');
    cleanups.push(tmp.cleanup);
    const normal = new MessageStore({ dir: tmp.dir, settings: BASE });
    expect(normal.durability).toBe('normal');
    normal.close();
    const full = new MessageStore({ dir: tmp.dir, settings: BASE, durability: 'full' });
    cleanups.push(() => full.close());
    expect(full.durability).toBe('full');
    await full.add('dev-a', topic('dev-a', 1), payload);
    expect(full.readAfter(0, 10)).toHaveLength(1);
  });

  it('returns committed messages in arrival order and forgets them once marked sent', async () => {
    const { store } = await open();
    await Promise.all([1, 2, 3].map((n) => store.add('dev-a', topic('dev-a', n), payload)));
    const rows = store.readAfter(0, 10);
    expect(rows.map((r) => r.topic)).toEqual([1, 2, 3].map((n) => topic('dev-a', n)));
    expect(rows.map((r) => r.seq)).toEqual([...rows.map((r) => r.seq)].sort((a, b) => a - b));
    const first = rows[0]!;
    store.markSent(first.seq, first.bytes);
    // Excluded at once, deleted at the next commit.
    expect(store.readAfter(0, 10)).toHaveLength(2);
    await new Promise((r) => setImmediate(r));
    expect(store.counters()).toMatchObject({ queued: 2, enqueued: 3 });
  });

  it('group-commits: one turn of enqueues resolves together and wakes the reader once', async () => {
    const { store } = await open();
    let commits = 0;
    store.onCommit(() => commits++);
    await Promise.all(Array.from({ length: 500 }, (_, n) => store.add('dev-a', topic('dev-a', n), payload)));
    expect(commits).toBe(1);
    expect(store.counters().queued).toBe(500);
  });

  it('keeps what was committed across a reopen, with byte accounting and sequence order', async () => {
    const first = await open();
    for (let n = 0; n < 5; n++) await first.store.add('dev-a', topic('dev-a', n), payload);
    const bytes = first.store.counters().bytes;
    first.store.close();
    const again = await open({}, { t: T0 }, first.dir);
    expect(again.store.counters()).toMatchObject({ queued: 5, bytes });
    expect(again.store.readAfter(0, 10).map((r) => r.topic)).toEqual(
      [0, 1, 2, 3, 4].map((n) => topic('dev-a', n)),
    );
    // Sequence numbers are never reused, even when the queue empties.
    const last = again.store.readAfter(0, 10).at(-1)!;
    for (const r of again.store.readAfter(0, 10)) again.store.markSent(r.seq, r.bytes);
    await new Promise((r) => setImmediate(r));
    await again.store.add('dev-a', topic('dev-a', 9), payload);
    expect(again.store.readAfter(last.seq, 10).map((r) => r.topic)).toEqual([topic('dev-a', 9)]);
  });

  it('expires by time_to_live_secs (injected clock): sweeps count them and do not touch in-flight rows', async () => {
    const { store, clock } = await open({ timeToLiveSecs: 60 });
    await store.add('dev-a', topic('dev-a', 1), payload);
    await store.add('dev-a', topic('dev-a', 2), payload);
    clock.t += 30_000;
    await store.add('dev-a', topic('dev-a', 3), payload);
    const [r1] = store.readAfter(0, 1);
    expect(store.isExpired(r1!)).toBe(false);
    clock.t += 31_000; // 61 s after the first two, 31 s after the third
    expect(store.isExpired(r1!)).toBe(true);
    store.setInFlightCheck((seq) => seq === r1!.seq);
    expect(store.sweepExpired()).toBe(1);
    expect(store.counters()).toMatchObject({ queued: 2, expired: 1 });
    expect(store.readAfter(0, 10).map((r) => r.topic)).toEqual([topic('dev-a', 1), topic('dev-a', 3)]);
  });

  it('full_policy "refuse": rejects with GH_ERR_STORE_FULL and accepts again once space frees', async () => {
    // Room for exactly three messages.
    const { store } = await open({ maxBytes: 3 * SIZE, fullPolicy: 'refuse' });
    const t = (n: number) => topic('dev-abcd', n);
    await Promise.all([1, 2, 3].map((n) => store.add('dev-abcd', t(n), payload)));
    const refused = await store.add('dev-abcd', t(4), payload).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isGatehouseError(refused, 'GH_ERR_STORE_FULL')).toBe(true);
    expect(store.counters()).toMatchObject({ queued: 3, refused: 1 });
    const [oldest] = store.readAfter(0, 1);
    store.markSent(oldest!.seq, oldest!.bytes);
    await store.add('dev-abcd', t(5), payload);
    expect(store.readAfter(0, 10).map((r) => r.topic)).toEqual([t(2), t(3), t(5)]);
  });

  it('full_policy "refuse": a store full of expired messages makes room instead of refusing', async () => {
    const { store, clock } = await open({ maxBytes: 2 * SIZE, fullPolicy: 'refuse', timeToLiveSecs: 10 });
    const t = (n: number) => topic('dev-abcd', n);
    await store.add('dev-abcd', t(1), payload);
    await store.add('dev-abcd', t(2), payload);
    clock.t += 11_000;
    await store.add('dev-abcd', t(3), payload);
    expect(store.counters()).toMatchObject({ queued: 1, expired: 2, refused: 0 });
  });

  it('full_policy "drop-oldest": evicts the oldest, counts them, keeps the newest', async () => {
    const { store } = await open({ maxBytes: 3 * SIZE, fullPolicy: 'drop-oldest' });
    const t = (n: number) => topic('dev-abcd', n);
    for (let n = 1; n <= 5; n++) await store.add('dev-abcd', t(n), payload);
    expect(store.counters()).toMatchObject({ queued: 3, dropped: 2, bytes: 3 * SIZE });
    expect(store.readAfter(0, 10).map((r) => r.topic)).toEqual([t(3), t(4), t(5)]);
    // One batch bigger than the store keeps only its newest messages.
    await Promise.all([6, 7, 8, 9].map((n) => store.add('dev-abcd', t(n), payload)));
    expect(store.readAfter(0, 10).map((r) => r.topic)).toEqual([t(7), t(8), t(9)]);
    expect(store.counters()).toMatchObject({ queued: 3, dropped: 6 });
  });

  it('refuses a single message larger than max_bytes under either policy', async () => {
    for (const fullPolicy of ['refuse', 'drop-oldest'] as const) {
      const { store } = await open({ maxBytes: 100, fullPolicy });
      const err = await store.add('dev-a', topic('dev-a', 1), Buffer.alloc(200)).catch((e: unknown) => e);
      expect(isGatehouseError(err, 'GH_ERR_STORE_FULL')).toBe(true);
      expect(store.counters().queued).toBe(0);
    }
  });

  it('rejects adds after close with GH_ERR_STORE, and names the file when it cannot open', async () => {
    const { store, dir } = await open();
    store.close();
    const err = await store.add('dev-a', topic('dev-a', 1), payload).catch((e: unknown) => e);
    expect(isGatehouseError(err, 'GH_ERR_STORE')).toBe(true);
    const { writeFile } = await import('node:fs/promises');
    const bad = await makeTempDir('gh-store-bad-');
    cleanups.push(bad.cleanup);
    await writeFile(`${bad.dir}/store.db`, 'this is not a database, just text that is long enough to matter');
    let caught: unknown;
    try {
      new MessageStore({ dir: bad.dir, settings: BASE });
    } catch (e) {
      caught = e;
    }
    expect(isGatehouseError(caught, 'GH_ERR_STORE')).toBe(true);
    expect((caught as Error).message).toContain('store.db');
    expect(dir).not.toBe(bad.dir);
  });
});
