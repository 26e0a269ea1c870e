import Database from 'better-sqlite3';
import { GatehouseError } from '../errors.ts';

export type HubDb = Database.Database;

/** Bump when the schema changes; `migrate` brings older files forward. */
const SCHEMA_VERSION = 1;

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
  device_id TEXT PRIMARY KEY,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cas (
  name TEXT PRIMARY KEY,
  thumbprint TEXT NOT NULL UNIQUE,
  certificate_pem TEXT NOT NULL,
  verification_code TEXT NOT NULL,
  verified INTEGER NOT NULL DEFAULT 0,
  uploaded_at INTEGER NOT NULL,
  verified_at INTEGER
);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  connection_device_id TEXT NOT NULL,
  properties TEXT NOT NULL,
  payload BLOB NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_device ON messages (device_id, seq);
CREATE TABLE IF NOT EXISTS c2d (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  device_id TEXT NOT NULL,
  properties TEXT NOT NULL,
  payload BLOB NOT NULL,
  enqueued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS c2d_by_device ON c2d (device_id, seq);
`;

/**
 * Opens (creating on first use) the hub's SQLite file. WAL with synchronous=NORMAL: a committed row
 * survives a crash of the hub process, which is what "stored before PUBACK" has to mean for a mock
 * hub; FULL would add an fsync per telemetry message for power-loss safety nobody needs here.
 */
export function openHubDb(path: string): HubDb {
  let db: HubDb;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (err) {
    throw new GatehouseError('GH_ERR_STORE', `hub store ${path}: cannot open (${(err as Error).message})`, {
      cause: err,
    });
  }
  return db;
}

function migrate(db: HubDb): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`schema version ${version} is newer than this hub understands (${SCHEMA_VERSION})`);
  }
  if (version < 1) {
    db.transaction(() => {
      db.exec(SCHEMA_V1);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }
}

/** A small key/value table for counters that must survive restarts (e.g. the registry generation). */
export function readMeta(db: HubDb, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function writeMeta(db: HubDb, key: string, value: string): void {
  db.prepare(
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  ).run(key, value);
}
