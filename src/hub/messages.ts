import { DEFAULT_MESSAGES_PAGE, MAX_MESSAGES_PAGE, type StoredMessage } from './api-schemas.ts';
import type { HubDb } from './store.ts';

export interface IncomingTelemetry {
  /** The device the message is for (from the topic). */
  readonly deviceId: string;
  /** The authenticated connection that sent it. */
  readonly connectionDeviceId: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly payload: Buffer;
  readonly receivedAt: number;
}

export interface MessageQuery {
  readonly deviceId?: string;
  /** Only messages with seq greater than this (a cursor from a previous answer). */
  readonly after?: number;
  readonly limit?: number;
}

/** The hub keeps the newest messages only, so a long-running demo cannot fill the disk. */
export const MAX_STORED_MESSAGES = 200_000;
const PRUNE_EVERY = 1000;

interface MessageRow {
  seq: number;
  device_id: string;
  connection_device_id: string;
  properties: string;
  payload: Buffer;
  received_at: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The telemetry sink: every accepted message, in arrival order. */
export class MessageStore {
  private readonly db: HubDb;
  private readonly insertStmt;
  private sincePrune = 0;

  constructor(db: HubDb) {
    this.db = db;
    this.insertStmt = db.prepare(
      'INSERT INTO messages (device_id, connection_device_id, properties, payload, received_at) VALUES (?, ?, ?, ?, ?)',
    );
  }

  /** Commits the message before returning: the caller acknowledges it to the device only after this. */
  insert(m: IncomingTelemetry): number {
    const result = this.insertStmt.run(
      m.deviceId,
      m.connectionDeviceId,
      JSON.stringify(m.properties),
      m.payload,
      m.receivedAt,
    );
    if (++this.sincePrune >= PRUNE_EVERY) this.prune();
    return Number(result.lastInsertRowid);
  }

  query(q: MessageQuery = {}): StoredMessage[] {
    const limit = Math.min(Math.max(q.limit ?? DEFAULT_MESSAGES_PAGE, 1), MAX_MESSAGES_PAGE);
    const after = Math.max(q.after ?? 0, 0);
    const rows = (
      q.deviceId === undefined
        ? this.db.prepare('SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?').all(after, limit)
        : this.db
            .prepare('SELECT * FROM messages WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?')
            .all(q.deviceId, after, limit)
    ) as MessageRow[];
    return rows.map(toStored);
  }

  private prune(): void {
    this.sincePrune = 0;
    this.db
      .prepare('DELETE FROM messages WHERE seq <= (SELECT MAX(seq) FROM messages) - ?')
      .run(MAX_STORED_MESSAGES);
  }
}

function toStored(row: MessageRow): StoredMessage {
  let payloadText: string | undefined;
  try {
    payloadText = utf8.decode(row.payload);
  } catch {
    payloadText = undefined;
  }
  return {
    seq: row.seq,
    deviceId: row.device_id,
    connectionDeviceId: row.connection_device_id,
    properties: JSON.parse(row.properties) as Record<string, string>,
    payload: row.payload.toString('base64'),
    ...(payloadText !== undefined ? { payloadText } : {}),
    receivedAt: new Date(row.received_at).toISOString(),
  };
}
