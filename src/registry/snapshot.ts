import { GatehouseError } from '../errors.ts';
import type { ScopeCa } from '../iothub/scope-api.ts';
import type { Logger } from '../logger.ts';
import { addDigest, caRowDigest, recordRowDigest, snapshotChecksum, subtractDigest } from './checksum.ts';
import type { DeviceRecord } from './device.ts';
import { type Db, openSnapshotFile, parseRecord, type VerifiedState } from './snapshot-file.ts';
import { casKey } from './verified-cas.ts';

/** What a full sync changed, computed inside the transaction that wrote it. */
export interface SnapshotDiff {
  readonly added: string[];
  readonly removed: string[];
  /** Present before and after, enabled before and disabled now. */
  readonly disabled: string[];
  /** Present before and after, changed otherwise. */
  readonly updated: string[];
  readonly casChanged: boolean;
}

export type UpsertResult = 'added' | 'updated' | 'disabled' | 'unchanged';

/**
 * The persisted copy of the scope: SQLite (WAL) with the records, the verified CAs and a meta row
 * holding the sync time and the checksum (checksum.ts). Opening verifies everything (quick_check,
 * every row against its schema, the checksum); a snapshot that fails is moved aside to
 * `registry.db.corrupt` and the cache starts empty. Every write is one transaction.
 */
export class RegistrySnapshot {
  private readonly db: Db;
  private readonly edgeDeviceId: string;
  private sum: bigint;
  private count: number;
  private synced: number | undefined;
  private caList: ScopeCa[];
  private readonly stmts;

  private constructor(db: Db, edgeDeviceId: string, state: VerifiedState) {
    this.db = db;
    this.edgeDeviceId = edgeDeviceId;
    this.sum = state.sum;
    this.count = state.count;
    this.synced = state.syncedAt;
    this.caList = state.cas;
    this.stmts = {
      get: db.prepare<[string], { json: string }>('SELECT json FROM records WHERE device_id = ?'),
      put: db.prepare('INSERT OR REPLACE INTO records (device_id, json) VALUES (?, ?)'),
      del: db.prepare('DELETE FROM records WHERE device_id = ?'),
      ids: db.prepare<[], string>('SELECT device_id FROM records').pluck(),
      page: db.prepare<[string, number], { json: string }>(
        'SELECT json FROM records WHERE device_id > ? ORDER BY device_id LIMIT ?',
      ),
      meta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      delCas: db.prepare('DELETE FROM cas'),
      putCa: db.prepare('INSERT OR REPLACE INTO cas (thumbprint, name, pem) VALUES (?, ?, ?)'),
    };
  }

  /**
   * Opens (or creates) the snapshot at `path`; see openSnapshotFile for what is verified and what
   * happens to a snapshot that fails. `warm` receives up to `warmLimit` verified records.
   */
  static open(opts: {
    path: string;
    edgeDeviceId: string;
    logger: Logger;
    warm?: (records: readonly DeviceRecord[]) => void;
    warmLimit?: number;
  }): RegistrySnapshot {
    const { db, state } = openSnapshotFile(opts.path, opts.edgeDeviceId, opts.logger, opts.warmLimit ?? 0);
    opts.warm?.(state.first);
    return new RegistrySnapshot(db, opts.edgeDeviceId, state);
  }

  get size(): number {
    return this.count;
  }

  get syncedAt(): number | undefined {
    return this.synced;
  }

  get cas(): readonly ScopeCa[] {
    return this.caList;
  }

  /** One record, re-checked against the schema (fails closed: a bad row reads as unknown). */
  get(deviceId: string): DeviceRecord | undefined {
    const row = this.stmts.get.get(deviceId);
    return row ? parseRecord(row.json, deviceId) : undefined;
  }

  /** Records in id order after `afterId`; each call is a complete query, so no cursor stays open. */
  page(afterId: string, limit: number): DeviceRecord[] {
    return this.stmts.page.all(afterId, limit).flatMap((row) => parseRecord(row.json) ?? []);
  }

  /** Replaces the whole scope with a completed full sync, atomically. A repeated id keeps its last copy. */
  replaceAll(
    allRecords: readonly DeviceRecord[],
    allCas: readonly ScopeCa[],
    syncedAt: number,
  ): SnapshotDiff {
    // Each row is counted once in the checksum, so repeats are dropped before anything is written.
    const records = [...new Map(allRecords.map((r) => [r.deviceId, r])).values()];
    const cas = uniqueCas(allCas);
    const added: string[] = [];
    const removed: string[] = [];
    const disabled: string[] = [];
    const updated: string[] = [];
    let casChanged = false;
    this.write(() => {
      const seen = new Set<string>();
      let sum = 0n;
      for (const record of records) {
        const json = JSON.stringify(record);
        seen.add(record.deviceId);
        sum = addDigest(sum, recordRowDigest(record.deviceId, json));
        const old = this.stmts.get.get(record.deviceId)?.json;
        if (old === json) continue;
        this.stmts.put.run(record.deviceId, json);
        if (old === undefined) added.push(record.deviceId);
        else (isNewlyDisabled(old, record) ? disabled : updated).push(record.deviceId);
      }
      for (const id of this.stmts.ids.all()) {
        if (seen.has(id)) continue;
        this.stmts.del.run(id);
        removed.push(id);
      }
      casChanged = this.replaceCas(cas);
      for (const ca of cas) sum = addDigest(sum, caRowDigest(ca.thumbprint, ca.name, ca.certificatePem));
      this.sum = sum;
      this.count = seen.size;
      this.synced = syncedAt;
      this.stmts.meta.run('synced_at', String(syncedAt));
    });
    return { added, removed, disabled, updated, casChanged };
  }

  /** Stores one record fetched on demand. */
  upsert(record: DeviceRecord): UpsertResult {
    const json = JSON.stringify(record);
    const old = this.stmts.get.get(record.deviceId)?.json;
    if (old === json) return 'unchanged';
    this.write(() => {
      this.stmts.put.run(record.deviceId, json);
      if (old !== undefined) this.sum = subtractDigest(this.sum, recordRowDigest(record.deviceId, old));
      this.sum = addDigest(this.sum, recordRowDigest(record.deviceId, json));
      if (old === undefined) this.count++;
    });
    if (old === undefined) return 'added';
    return isNewlyDisabled(old, record) ? 'disabled' : 'updated';
  }

  /** Forgets one record (upstream says it is gone); true when it was there. */
  remove(deviceId: string): boolean {
    const old = this.stmts.get.get(deviceId)?.json;
    if (old === undefined) return false;
    this.write(() => {
      this.stmts.del.run(deviceId);
      this.sum = subtractDigest(this.sum, recordRowDigest(deviceId, old));
      this.count--;
    });
    return true;
  }

  /** Stores a newer verified CA list (from an on-demand answer); true when it differed. */
  setCas(allCas: readonly ScopeCa[]): boolean {
    const cas = uniqueCas(allCas);
    if (casKey(cas) === casKey(this.caList)) return false;
    this.write(() => {
      for (const ca of this.caList)
        this.sum = subtractDigest(this.sum, caRowDigest(ca.thumbprint, ca.name, ca.certificatePem));
      this.replaceCas(cas);
      for (const ca of cas)
        this.sum = addDigest(this.sum, caRowDigest(ca.thumbprint, ca.name, ca.certificatePem));
    });
    return true;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private replaceCas(cas: readonly ScopeCa[]): boolean {
    const changed = casKey(cas) !== casKey(this.caList);
    this.stmts.delCas.run();
    for (const ca of cas) this.stmts.putCa.run(ca.thumbprint, ca.name, ca.certificatePem);
    this.caList = [...cas];
    return changed;
  }

  /** Runs `change` and rewrites the checksum in one transaction; in-memory state rolls back on failure. */
  private write(change: () => void): void {
    const saved = { sum: this.sum, count: this.count, synced: this.synced, cas: this.caList };
    try {
      this.db.transaction(() => {
        change();
        this.stmts.meta.run('checksum', snapshotChecksum(this.edgeDeviceId, this.synced, this.sum));
      })();
    } catch (err) {
      this.sum = saved.sum;
      this.count = saved.count;
      this.synced = saved.synced;
      this.caList = saved.cas;
      throw new GatehouseError(
        'GH_ERR_STORE',
        `registry snapshot: write failed (${(err as Error).message})`,
        {
          cause: err,
        },
      );
    }
  }
}

function uniqueCas(cas: readonly ScopeCa[]): ScopeCa[] {
  return [...new Map(cas.map((ca) => [ca.thumbprint, ca])).values()];
}

function isNewlyDisabled(oldJson: string, record: DeviceRecord): boolean {
  return record.status === 'disabled' && parseRecord(oldJson)?.status === 'enabled';
}
