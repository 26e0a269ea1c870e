import { existsSync } from 'node:fs';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryCache } from '../../../src/registry/cache.ts';
import { addDigest, caRowDigest, recordRowDigest, snapshotChecksum } from '../../../src/registry/checksum.ts';
import type { RegistryCache } from '../../../src/registry/types.ts';
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

const THUMB = '0123456789ABCDEF'.repeat(4);

async function open(dir: string, source: FakeSource, edgeDeviceId = EDGE) {
  const log = captureLogger();
  const t = clock(Date.UTC(2025, 5, 1));
  const cache = await createRegistryCache({
    dataDir: dir,
    edgeDeviceId,
    settings: SETTINGS,
    source,
    logger: log.logger,
    autoSync: false,
    now: t.now,
  });
  cleanups.push(() => cache.close());
  return { cache, log };
}

/** A data dir holding a snapshot of three devices and one CA, closed (WAL checkpointed). */
async function seeded(): Promise<{ dir: string; source: FakeSource; syncedAt: number | undefined }> {
  const tmp = await makeTempDir('gatehouse-snapshot-');
  cleanups.push(tmp.cleanup);
  const source = new FakeSource();
  source.devices = [
    rec('alpha', { thumb: THUMB }),
    rec('bravo', { disabled: true }),
    rec('charlie', { ca: true }),
  ];
  source.cas = [scopeCa(pki.intermediate.cert)];
  const { cache } = await open(tmp.dir, source);
  expect(await cache.syncNow()).toBe(true);
  const syncedAt = cache.status().lastSyncAt;
  await cache.close();
  return { dir: tmp.dir, source, syncedAt };
}

function down(): FakeSource {
  const s = new FakeSource();
  s.failure = new Error('connect ECONNREFUSED');
  return s;
}

function expectUntrusted(cache: RegistryCache, lines: Array<Record<string, unknown>>, reason: RegExp): void {
  expect(cache.status().state).toBe('empty');
  expect(cache.status().size).toBe(0);
  expect(cache.get('alpha')).toBeUndefined();
  expect(cache.verifiedCas()).toEqual([]);
  const warning = lines.find((l) => l.msg === 'registry snapshot not trusted; moved aside, starting empty');
  expect(warning?.level).toBe(40);
  expect(String(warning?.reason)).toMatch(reason);
}

describe('registry snapshot: persistence', () => {
  it('survives a restart: records, CAs and the sync time come back while upstream is down', async () => {
    const { dir, syncedAt } = await seeded();
    expect(existsSync(join(dir, 'registry.db'))).toBe(true);
    const { cache, log } = await open(dir, down());
    expect(cache.status()).toEqual({ state: 'stale', size: 3, lastSyncAt: syncedAt, lastError: undefined });
    expect(cache.get('alpha')?.authentication).toEqual({ type: 'selfSigned', primaryThumbprint: THUMB });
    expect(cache.get('bravo')?.status).toBe('disabled');
    expect(cache.verifiedCas().map((c) => c.sha256)).toEqual([pki.intermediate.cert.sha256]);
    expect(log.lines().some((l) => String(l.msg).includes('not trusted'))).toBe(false);

    expect(await cache.syncNow()).toBe(false);
    expect(cache.status()).toMatchObject({ state: 'offline', size: 3, lastError: 'connect ECONNREFUSED' });
    expect(cache.get('alpha')).toBeDefined();
  });
});

describe('registry snapshot: damage is detected and never trusted', () => {
  it('one changed byte inside a record (checksum)', async () => {
    const { dir } = await seeded();
    const path = join(dir, 'registry.db');
    const bytes = await readFile(path);
    const at = bytes.indexOf(Buffer.from(THUMB));
    expect(at).toBeGreaterThan(0);
    bytes[at] = '9'.charCodeAt(0); // still a valid thumbprint, valid JSON, valid page: only the checksum sees it
    await writeFile(path, bytes);
    const { cache, log } = await open(dir, down());
    expectUntrusted(cache, log.lines(), /checksum mismatch/);
    expect(existsSync(`${path}.corrupt`)).toBe(true);
  });

  it('a truncated file', async () => {
    const { dir } = await seeded();
    const path = join(dir, 'registry.db');
    const size = (await readFile(path)).length;
    await truncate(path, Math.floor(size / 2));
    const { cache, log } = await open(dir, down());
    expectUntrusted(cache, log.lines(), /.+/);
  });

  it('a file that is not a database', async () => {
    const { dir } = await seeded();
    await writeFile(join(dir, 'registry.db'), Buffer.alloc(8192, 0x5a));
    const { cache, log } = await open(dir, down());
    expectUntrusted(cache, log.lines(), /not a database|malformed|quick_check/);
  });

  it('a row edited with SQL (enabling a disabled device)', async () => {
    const { dir } = await seeded();
    const db = new Database(join(dir, 'registry.db'));
    const row = db.prepare('SELECT json FROM records WHERE device_id = ?').get('bravo') as { json: string };
    db.prepare('UPDATE records SET json = ? WHERE device_id = ?').run(
      row.json.replace('"disabled"', '"enabled"'),
      'bravo',
    );
    db.close();
    const { cache, log } = await open(dir, down());
    expectUntrusted(cache, log.lines(), /checksum mismatch/);
    expect(cache.get('bravo')).toBeUndefined();
  });

  it('a deleted row', async () => {
    const { dir } = await seeded();
    const db = new Database(join(dir, 'registry.db'));
    db.prepare('DELETE FROM cas').run();
    db.close();
    const { cache, log } = await open(dir, down());
    expectUntrusted(cache, log.lines(), /checksum mismatch/);
  });

  it('a row that fails the device schema even with a matching checksum', async () => {
    const { dir, syncedAt } = await seeded();
    const db = new Database(join(dir, 'registry.db'));
    const bad = JSON.stringify({ ...rec('alpha'), status: 'sometimes' });
    db.prepare('UPDATE records SET json = ? WHERE device_id = ?').run(bad, 'alpha');
    // Recompute the checksum exactly as the writer does, so only the schema check can catch it.
    let sum = 0n;
    for (const r of db.prepare('SELECT device_id, json FROM records').all() as Array<{
      device_id: string;
      json: string;
    }>) {
      sum = addDigest(sum, recordRowDigest(r.device_id, r.json));
    }
    for (const c of db.prepare('SELECT thumbprint, name, pem FROM cas').all() as Array<{
      thumbprint: string;
      name: string;
      pem: string;
    }>) {
      sum = addDigest(sum, caRowDigest(c.thumbprint, c.name, c.pem));
    }
    db.prepare("UPDATE meta SET value = ? WHERE key = 'checksum'").run(snapshotChecksum(EDGE, syncedAt, sum));
    db.close();
    const { cache, log } = await open(dir, down());
    expectUntrusted(cache, log.lines(), /record "alpha" fails the device schema/);
  });

  it("another edge device's snapshot", async () => {
    const { dir } = await seeded();
    const { cache, log } = await open(dir, down(), 'other-gw');
    expect(cache.status().state).toBe('empty');
    expect(String(log.lines().find((l) => l.reason)?.reason)).toMatch(/belongs to edge device "gw-1"/);
  });

  it('is replaced by the next successful sync, and that snapshot is trusted again', async () => {
    const { dir, source } = await seeded();
    await truncate(join(dir, 'registry.db'), 100);
    const first = await open(dir, source);
    expect(first.cache.status().state).toBe('empty');
    expect(await first.cache.syncNow()).toBe(true);
    expect(first.cache.status()).toMatchObject({ state: 'synced', size: 3 });
    await first.cache.close();
    const second = await open(dir, down());
    expect(second.cache.status()).toMatchObject({ state: 'stale', size: 3 });
    expect(second.log.lines().some((l) => String(l.msg).includes('not trusted'))).toBe(false);
  });

  it('on-demand writes keep the checksum valid across a restart', async () => {
    const { dir, source } = await seeded();
    const first = await open(dir, source);
    source.devices = [rec('alpha', { thumb: 'D'.repeat(64) }), rec('delta')];
    await first.cache.lookup('delta');
    await first.cache.refresh('alpha');
    source.devices = [rec('delta')];
    await first.cache.refresh('charlie'); // gone upstream: removed
    await first.cache.close();
    const second = await open(dir, down());
    expect(second.log.lines().some((l) => String(l.msg).includes('not trusted'))).toBe(false);
    expect([...second.cache.records()].map((r) => r.deviceId)).toEqual(['alpha', 'bravo', 'delta']);
    expect(second.cache.get('alpha')?.authentication).toEqual({
      type: 'selfSigned',
      primaryThumbprint: 'D'.repeat(64),
    });
  });

  it('repeated records and CAs in a sync are stored once, so the checksum still holds after a restart', async () => {
    const tmp = await makeTempDir('gatehouse-snapshot-');
    cleanups.push(tmp.cleanup);
    const source = new FakeSource();
    const twice = rec('twice');
    source.devices = [twice, rec('other'), twice];
    source.cas = [scopeCa(pki.intermediate.cert), scopeCa(pki.intermediate.cert)];
    const first = await open(tmp.dir, source);
    expect(await first.cache.syncNow()).toBe(true);
    expect(first.cache.status().size).toBe(2);
    await first.cache.close();
    const second = await open(tmp.dir, down());
    expect(second.log.lines().some((l) => String(l.msg).includes('not trusted'))).toBe(false);
    expect(second.cache.status()).toMatchObject({ state: 'stale', size: 2 });
    expect(second.cache.verifiedCas()).toHaveLength(1);
  });
});
