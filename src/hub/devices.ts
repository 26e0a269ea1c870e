import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../errors.ts';
import {
  type DeviceAuthentication,
  type DeviceRecord,
  deviceAuthenticationSchema,
  deviceRecordSchema,
  isDeviceId,
} from '../registry/device.ts';
import { isInSubtree } from '../registry/scope.ts';
import { checkParent } from './device-rules.ts';
import { type HubDb, readMeta, writeMeta } from './store.ts';

export interface AddDeviceInput {
  readonly deviceId: string;
  readonly auth: DeviceAuthentication;
  readonly edge?: boolean;
  readonly parentId?: string;
  readonly disabled?: boolean;
}

export interface DevicePatch {
  readonly status?: 'enabled' | 'disabled';
  readonly auth?: DeviceAuthentication;
  /** A device id to set the parent, null to clear it. */
  readonly parentId?: string | null;
}

/**
 * The hub's device registry: SQLite is the durable copy, an in-memory mirror answers the per-publish
 * questions (lookup, subtree) without touching the disk. This class is the only writer, so the mirror
 * is updated only after the row is committed.
 */
export class DeviceRegistry {
  private readonly records = new Map<string, DeviceRecord>();
  private readonly childIds = new Map<string, Set<string>>();
  private readonly db: HubDb;
  readonly lookup = (id: string): DeviceRecord | undefined => this.records.get(id);

  constructor(db: HubDb) {
    this.db = db;
    const rows = db.prepare('SELECT device_id, record FROM devices').all() as Array<{
      device_id: string;
      record: string;
    }>;
    for (const row of rows) {
      const parsed = deviceRecordSchema.safeParse(safeJson(row.record));
      if (!parsed.success || parsed.data.deviceId !== row.device_id) {
        throw new GatehouseError('GH_ERR_STORE', `hub store: device row "${row.device_id}" is corrupt`);
      }
      this.remember(parsed.data);
    }
  }

  get(id: string): DeviceRecord {
    const record = this.records.get(id);
    if (!record) throw new GatehouseError('GH_ERR_NOT_FOUND', `device "${id}" does not exist`);
    return record;
  }

  list(): DeviceRecord[] {
    return [...this.records.values()].sort(byId);
  }

  children(id: string): readonly string[] {
    return [...(this.childIds.get(id) ?? [])];
  }

  /** Every device below `edgeId` (children, grandchildren, …), sorted by id; the edge itself excluded. */
  subtree(edgeId: string): DeviceRecord[] {
    return this.list().filter((r) => isInSubtree(this.lookup, edgeId, r.deviceId));
  }

  add(input: AddDeviceInput, now = Date.now()): DeviceRecord {
    if (!isDeviceId(input.deviceId)) {
      throw new GatehouseError('GH_ERR_INPUT', `"${input.deviceId}" is not a valid device id`);
    }
    if (this.records.has(input.deviceId)) {
      throw new GatehouseError('GH_ERR_CONFLICT', `device "${input.deviceId}" already exists`);
    }
    const iotEdge = input.edge === true;
    if (input.parentId !== undefined) this.assertParent(input.deviceId, iotEdge, input.parentId);
    const record: DeviceRecord = {
      deviceId: input.deviceId,
      status: input.disabled ? 'disabled' : 'enabled',
      authentication: normalizeAuth(input.auth),
      capabilities: { iotEdge },
      ...(input.parentId !== undefined ? { parentId: input.parentId } : {}),
      ...this.nextVersion(now),
    };
    this.write(record, true);
    return record;
  }

  /** Applies a patch; returns the record unchanged (same etag) when the patch changes nothing. */
  update(id: string, patch: DevicePatch, now = Date.now()): DeviceRecord {
    const current = this.get(id);
    const authentication = patch.auth ? normalizeAuth(patch.auth) : current.authentication;
    const parentId = patch.parentId === undefined ? current.parentId : (patch.parentId ?? undefined);
    if (parentId !== undefined && parentId !== current.parentId) {
      this.assertParent(id, current.capabilities.iotEdge, parentId);
    }
    const { parentId: _old, ...rest } = current;
    const next: DeviceRecord = {
      ...rest,
      status: patch.status ?? current.status,
      authentication,
      ...(parentId !== undefined ? { parentId } : {}),
    };
    if (sameContent(current, next)) return current;
    const record = { ...next, ...this.nextVersion(now) };
    this.write(record, false);
    return record;
  }

  /** Refuses (CONFLICT) while the device still has children: orphaning them silently would move them out of scope. */
  remove(id: string): DeviceRecord {
    const record = this.get(id);
    const kids = this.children(id);
    if (kids.length > 0) {
      throw new GatehouseError(
        'GH_ERR_CONFLICT',
        `device "${id}" is the parent of ${kids.length} device(s) (${kids.slice(0, 3).join(', ')}${kids.length > 3 ? ', …' : ''}); re-parent or remove them first`,
        { details: { children: kids.length } },
      );
    }
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM devices WHERE device_id = ?').run(id);
      // IoT Hub purges a deleted device's cloud-to-device queue with it.
      this.db.prepare('DELETE FROM c2d WHERE device_id = ?').run(id);
    })();
    this.forget(record);
    return record;
  }

  private assertParent(deviceId: string, iotEdge: boolean, parentId: string): void {
    const decision = checkParent({
      lookup: this.lookup,
      children: (id) => this.children(id),
      deviceId,
      iotEdge,
      parentId,
    });
    if (!decision.ok) {
      throw new GatehouseError('GH_ERR_SCOPE', decision.detail, { details: { reason: decision.reason } });
    }
  }

  /** etag: random per update; generation: hub-wide, strictly increasing, so caches can order versions. */
  private nextVersion(now: number): Pick<DeviceRecord, 'etag' | 'generation' | 'lastUpdated'> {
    const generation = Number(readMeta(this.db, 'generation') ?? '0') + 1;
    return {
      etag: randomBytes(12).toString('base64url'),
      generation,
      lastUpdated: new Date(now).toISOString(),
    };
  }

  private write(record: DeviceRecord, insert: boolean): void {
    this.db.transaction(() => {
      const json = JSON.stringify(record);
      if (insert)
        this.db.prepare('INSERT INTO devices (device_id, record) VALUES (?, ?)').run(record.deviceId, json);
      else this.db.prepare('UPDATE devices SET record = ? WHERE device_id = ?').run(json, record.deviceId);
      writeMeta(this.db, 'generation', String(record.generation));
    })();
    const previous = this.records.get(record.deviceId);
    if (previous) this.forget(previous);
    this.remember(record);
  }

  private remember(record: DeviceRecord): void {
    this.records.set(record.deviceId, record);
    if (record.parentId !== undefined) {
      const set = this.childIds.get(record.parentId) ?? new Set();
      this.childIds.set(record.parentId, set);
      set.add(record.deviceId);
    }
  }

  private forget(record: DeviceRecord): void {
    this.records.delete(record.deviceId);
    if (record.parentId !== undefined) this.childIds.get(record.parentId)?.delete(record.deviceId);
  }
}

function normalizeAuth(auth: DeviceAuthentication): DeviceAuthentication {
  const parsed = deviceAuthenticationSchema.safeParse(auth);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatehouseError(
      'GH_ERR_INPUT',
      `authentication${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

function sameContent(a: DeviceRecord, b: DeviceRecord): boolean {
  return (
    a.status === b.status &&
    a.parentId === b.parentId &&
    JSON.stringify(a.authentication) === JSON.stringify(b.authentication)
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const byId = (a: DeviceRecord, b: DeviceRecord): number =>
  a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0;
