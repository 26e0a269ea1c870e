import { randomUUID } from 'node:crypto';
import { GatehouseError } from '../errors.ts';
import { formatPropertyBag, MAX_PROPERTY_BAG } from '../iothub/topics.ts';
import type { HubDb } from './store.ts';

/** IoT Hub's per-device cloud-to-device queue depth. */
export const MAX_PENDING_C2D = 50;
/** IoT Hub's cloud-to-device message size limit. */
export const MAX_C2D_PAYLOAD = 64 * 1024;

export interface PendingC2d {
  readonly seq: number;
  readonly id: string;
  readonly deviceId: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly payload: Buffer;
}

interface C2dRow {
  seq: number;
  id: string;
  device_id: string;
  properties: string;
  payload: Buffer;
}

/** Durable per-device queues of cloud-to-device messages; a message leaves the queue when the device acknowledges it. */
export class C2dQueue {
  private readonly db: HubDb;

  constructor(db: HubDb) {
    this.db = db;
  }

  enqueue(
    deviceId: string,
    payload: Buffer,
    properties: Readonly<Record<string, string>> = {},
    now = Date.now(),
  ): { id: string } {
    if (payload.length > MAX_C2D_PAYLOAD) {
      throw new GatehouseError(
        'GH_ERR_INPUT',
        `payload is ${payload.length} bytes; at most ${MAX_C2D_PAYLOAD}`,
      );
    }
    for (const key of Object.keys(properties)) {
      // `$.`-prefixed names are IoT Hub system properties; the hub sets those itself.
      if (key.startsWith('$.') || key === '') {
        throw new GatehouseError('GH_ERR_INPUT', `property name "${key}" is reserved or empty`);
      }
    }
    if (formatPropertyBag(properties).length > MAX_PROPERTY_BAG - 200) {
      throw new GatehouseError('GH_ERR_INPUT', 'properties are too long for an MQTT property bag');
    }
    const id = randomUUID();
    this.db.transaction(() => {
      const { n } = this.db.prepare('SELECT COUNT(*) AS n FROM c2d WHERE device_id = ?').get(deviceId) as {
        n: number;
      };
      if (n >= MAX_PENDING_C2D) {
        throw new GatehouseError(
          'GH_ERR_STORE_FULL',
          `device "${deviceId}" already has ${n} undelivered cloud-to-device messages (at most ${MAX_PENDING_C2D})`,
        );
      }
      this.db
        .prepare('INSERT INTO c2d (id, device_id, properties, payload, enqueued_at) VALUES (?, ?, ?, ?, ?)')
        .run(id, deviceId, JSON.stringify(properties), payload, now);
    })();
    return { id };
  }

  /** The oldest pending messages for a device, skipping those in `exclude` (already in flight). */
  next(deviceId: string, exclude: ReadonlySet<string>): PendingC2d | undefined {
    const rows = this.db
      .prepare(
        'SELECT seq, id, device_id, properties, payload FROM c2d WHERE device_id = ? ORDER BY seq LIMIT ?',
      )
      .all(deviceId, exclude.size + 1) as C2dRow[];
    const row = rows.find((r) => !exclude.has(r.id));
    return row
      ? {
          seq: row.seq,
          id: row.id,
          deviceId: row.device_id,
          properties: JSON.parse(row.properties) as Record<string, string>,
          payload: row.payload,
        }
      : undefined;
  }

  /** Marks a message done (acknowledged by the device): it is never delivered again. */
  complete(id: string): void {
    this.db.prepare('DELETE FROM c2d WHERE id = ?').run(id);
  }

  pendingCount(deviceId: string): number {
    return (
      this.db.prepare('SELECT COUNT(*) AS n FROM c2d WHERE device_id = ?').get(deviceId) as { n: number }
    ).n;
  }
}
