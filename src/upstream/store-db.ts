import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GatehouseError } from '../errors.ts';

/**
 * The store-and-forward file: one SQLite database in WAL mode. `seq` is AUTOINCREMENT so a sequence
 * number is never reused, even after the queue empties: the sender's cursor relies on every new row
 * sorting after every row it has already read.
 */
const SCHEMA_VERSION = 1;

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  enqueued_at INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);
`;

/**
 * `normal`: WAL + synchronous=NORMAL — a commit is in the OS before enqueue resolves, so it survives a
 * crash or kill -9 of the gateway, but the last commits can be lost if the machine loses power.
 * `full`: also fsync on every commit (group commit amortises it), surviving power loss.
 */
export type StoreDurability = 'normal' | 'full';

export interface StoredRow {
  readonly seq: number;
  readonly deviceId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly enqueuedAt: number;
  readonly bytes: number;
}

export interface Removed {
  readonly count: number;
  readonly bytes: number;
}

/** Rows looked at per step of an eviction or expiry scan, and steps per scan: bounds one pass. */
const SCAN_PAGE = 256;
const SCAN_MAX_PAGES = 200;

interface HeadRow {
  seq: number;
  enqueued_at: number;
  bytes: number;
}

interface RawRow {
  seq: number;
  device_id: string;
  topic: string;
  payload: Buffer;
  enqueued_at: number;
  bytes: number;
}

export interface StoreDb {
  readonly path: string;
  /** What SQLite reports it is doing (read back after setting it). */
  readonly durability: StoreDurability;
  insert(deviceId: string, topic: string, payload: Buffer, enqueuedAt: number, bytes: number): void;
  /** Deletes one row; true when it existed. */
  remove(seq: number): boolean;
  /** Rows after `afterSeq` in sequence order. */
  readAfter(afterSeq: number, limit: number): StoredRow[];
  /** Deletes the oldest rows until at least `excess` bytes are freed (bounded scan); what went. */
  evictOldest(excess: number): Removed;
  /**
   * Deletes expired rows from the head, oldest first, passing over those `skip` names; stops at the
   * first unexpired row (rows are in arrival order, so the rest are younger).
   */
  expireHead(expired: (enqueuedAt: number) => boolean, skip: (seq: number) => boolean): Removed;
  totals(): { count: number; bytes: number };
  transaction(work: () => void): void;
  close(): void;
}

export function openStoreDb(dir: string, file: string, durability: StoreDurability): StoreDb {
  const path = join(dir, file);
  let db: Database.Database;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    migrate(db);
  } catch (err) {
    throw new GatehouseError('GH_ERR_STORE', `store ${path}: cannot open (${(err as Error).message})`, {
      cause: err,
      details: { path },
    });
  }

  const insert = db.prepare(
    'INSERT INTO messages (device_id, topic, payload, enqueued_at, bytes) VALUES (?, ?, ?, ?, ?)',
  );
  const remove = db.prepare('DELETE FROM messages WHERE seq = ?');
  const readAfter = db.prepare(
    'SELECT seq, device_id, topic, payload, enqueued_at, bytes FROM messages WHERE seq > ? ORDER BY seq LIMIT ?',
  );
  const head = db.prepare('SELECT seq, enqueued_at, bytes FROM messages WHERE seq > ? ORDER BY seq LIMIT ?');
  const totals = db.prepare('SELECT COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes FROM messages');

  // PRAGMA synchronous: 1 = NORMAL, 2 = FULL.
  const synchronous = db.pragma('synchronous', { simple: true });
  return {
    path,
    durability: synchronous === 2 ? 'full' : 'normal',
    insert: (deviceId, topic, payload, enqueuedAt, bytes) => {
      insert.run(deviceId, topic, payload, enqueuedAt, bytes);
    },
    remove: (seq) => remove.run(seq).changes === 1,
    readAfter: (afterSeq, limit) =>
      (readAfter.all(afterSeq, limit) as RawRow[]).map((r) => ({
        seq: r.seq,
        deviceId: r.device_id,
        topic: r.topic,
        payload: r.payload,
        enqueuedAt: r.enqueued_at,
        bytes: r.bytes,
      })),
    evictOldest: (excess) => {
      let count = 0;
      let bytes = 0;
      let after = 0;
      for (let page = 0; bytes < excess && page < SCAN_MAX_PAGES; page++) {
        const rows = head.all(after, SCAN_PAGE) as HeadRow[];
        if (rows.length === 0) break;
        for (const row of rows) {
          if (bytes >= excess) break;
          after = row.seq;
          if (remove.run(row.seq).changes === 1) {
            count++;
            bytes += row.bytes;
          }
        }
      }
      return { count, bytes };
    },
    expireHead: (expired, skip) => {
      let count = 0;
      let bytes = 0;
      let after = 0;
      for (let page = 0; page < SCAN_MAX_PAGES; page++) {
        const rows = head.all(after, SCAN_PAGE) as HeadRow[];
        for (const row of rows) {
          after = row.seq;
          if (!expired(row.enqueued_at)) return { count, bytes };
          if (!skip(row.seq) && remove.run(row.seq).changes === 1) {
            count++;
            bytes += row.bytes;
          }
        }
        if (rows.length < SCAN_PAGE) break;
      }
      return { count, bytes };
    },
    totals: () => totals.get() as { count: number; bytes: number },
    transaction: (work) => db.transaction(work)(),
    close: () => {
      if (db.open) db.close();
    },
  };
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`schema version ${version} is newer than this gateway understands (${SCHEMA_VERSION})`);
  }
  if (version < 1) {
    db.transaction(() => {
      db.exec(SCHEMA_V1);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }
}
