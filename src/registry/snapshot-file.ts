import { existsSync, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { GatehouseError } from '../errors.ts';
import { type ScopeCa, scopeCaSchema } from '../iothub/scope-api.ts';
import type { Logger } from '../logger.ts';
import { addDigest, caRowDigest, recordRowDigest, snapshotChecksum } from './checksum.ts';
import { type DeviceRecord, deviceRecordSchema } from './device.ts';
import { parseVerifiedCas } from './verified-cas.ts';

export type Db = Database.Database;

const FORMAT = '1';
const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (device_id TEXT PRIMARY KEY, json TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE cas (thumbprint TEXT PRIMARY KEY, name TEXT NOT NULL, pem TEXT NOT NULL) WITHOUT ROWID;
`;

/** A damaged or foreign snapshot: discarded, never trusted. Internal to this file. */
class UntrustedSnapshot extends Error {}

/**
 * Opens the snapshot file, trusting it only after everything checks out: PRAGMA quick_check, the
 * format and owning edge device, every record against deviceRecordSchema, every CA (parsed, thumbprint
 * matches), and the checksum over all of it. A snapshot that fails is logged (warn, with the reason),
 * moved aside to `registry.db.corrupt` and replaced by an empty one. Environmental failures (disk,
 * permissions, another process holding a lock) are GH_ERR_STORE instead: they say nothing about the
 * content, so the file is left alone.
 */
export function openSnapshotFile(
  path: string,
  edgeDeviceId: string,
  logger: Logger,
  keepFirst: number,
): { db: Db; state: VerifiedState } {
  if (existsSync(path)) {
    let db: Db | undefined;
    try {
      db = openDb(path);
      return { db, state: verify(db, edgeDeviceId, keepFirst) };
    } catch (err) {
      db?.close();
      if (!isUntrusted(err)) {
        throw new GatehouseError(
          'GH_ERR_STORE',
          `registry snapshot ${path}: cannot open (${(err as Error).message})`,
          {
            cause: err,
          },
        );
      }
      logger.warn(
        { path, reason: (err as Error).message },
        'registry snapshot not trusted; moved aside, starting empty',
      );
      moveAside(path);
    }
  }
  try {
    const db = openDb(path);
    db.transaction(() => {
      db.exec(SCHEMA);
      const insert = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
      insert.run('format', FORMAT);
      insert.run('edge_device_id', edgeDeviceId);
      insert.run('checksum', snapshotChecksum(edgeDeviceId, undefined, 0n));
    })();
    return { db, state: { sum: 0n, count: 0, syncedAt: undefined, cas: [], first: [] } };
  } catch (err) {
    throw new GatehouseError(
      'GH_ERR_STORE',
      `registry snapshot ${path}: cannot create (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  }
}

export interface VerifiedState {
  sum: bigint;
  count: number;
  syncedAt: number | undefined;
  cas: ScopeCa[];
  /** The first records read, handed out only after everything verified. */
  first: DeviceRecord[];
}

function openDb(path: string): Db {
  const db = new Database(path);
  try {
    // Snapshot loss on power failure only costs a resync; NORMAL avoids an fsync per on-demand write.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function verify(db: Db, edgeDeviceId: string, keep: number): VerifiedState {
  const check = db.pragma('quick_check', { simple: true });
  if (check !== 'ok') throw new UntrustedSnapshot(`quick_check failed: ${String(check).slice(0, 200)}`);
  const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
  if (!['meta', 'records', 'cas'].every((t) => tables.includes(t)))
    throw new UntrustedSnapshot('tables missing');
  const meta = new Map(
    db
      .prepare<[], { key: string; value: string }>('SELECT key, value FROM meta')
      .all()
      .map((r) => [r.key, r.value]),
  );
  if (meta.get('format') !== FORMAT) throw new UntrustedSnapshot(`unknown format ${meta.get('format')}`);
  if (meta.get('edge_device_id') !== edgeDeviceId) {
    throw new UntrustedSnapshot(
      `belongs to edge device "${meta.get('edge_device_id')}", not "${edgeDeviceId}"`,
    );
  }
  const syncedText = meta.get('synced_at');
  const syncedAt = syncedText === undefined ? undefined : Number(syncedText);
  if (syncedAt !== undefined && !Number.isSafeInteger(syncedAt)) throw new UntrustedSnapshot('bad sync time');

  let sum = 0n;
  let count = 0;
  const first: DeviceRecord[] = [];
  const rows = db.prepare<[], { device_id: string; json: string }>('SELECT device_id, json FROM records');
  for (const row of rows.iterate()) {
    const record = parseRecord(row.json, row.device_id);
    if (!record)
      throw new UntrustedSnapshot(`record "${row.device_id.slice(0, 128)}" fails the device schema`);
    sum = addDigest(sum, recordRowDigest(row.device_id, row.json));
    count++;
    if (first.length < keep) first.push(record);
  }
  const cas: ScopeCa[] = [];
  const caRows = db.prepare<[], { thumbprint: string; name: string; pem: string }>(
    'SELECT thumbprint, name, pem FROM cas',
  );
  for (const row of caRows.iterate()) {
    const ca = scopeCaSchema.safeParse({
      name: row.name,
      certificatePem: row.pem,
      thumbprint: row.thumbprint,
    });
    if (!ca.success) throw new UntrustedSnapshot(`CA "${row.name.slice(0, 128)}" is malformed`);
    cas.push(ca.data);
    sum = addDigest(sum, caRowDigest(row.thumbprint, row.name, row.pem));
  }
  try {
    parseVerifiedCas(cas);
  } catch (err) {
    throw new UntrustedSnapshot((err as Error).message);
  }
  if (meta.get('checksum') !== snapshotChecksum(edgeDeviceId, syncedAt, sum)) {
    throw new UntrustedSnapshot('checksum mismatch');
  }
  return { sum, count, syncedAt, cas, first };
}

/** A stored record, re-checked against the schema; undefined when it fails (fail closed). */
export function parseRecord(json: string, expectedId?: string): DeviceRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const parsed = deviceRecordSchema.safeParse(value);
  if (!parsed.success) return undefined;
  if (expectedId !== undefined && parsed.data.deviceId !== expectedId) return undefined;
  return parsed.data;
}

const CORRUPT_CODES = /^SQLITE_(CORRUPT|NOTADB)/;

function isUntrusted(err: unknown): boolean {
  if (err instanceof UntrustedSnapshot) return true;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CORRUPT_CODES.test(code);
}

/** Keeps the last bad snapshot for inspection (one file, overwritten) and drops its WAL and index. */
function moveAside(path: string): void {
  try {
    renameSync(path, `${path}.corrupt`);
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
  } catch (err) {
    throw new GatehouseError(
      'GH_ERR_STORE',
      `registry snapshot ${path}: cannot move aside (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  }
}
