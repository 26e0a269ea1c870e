import type { StoreAndForwardSettings } from '../config/types.ts';
import { GatehouseError } from '../errors.ts';
import { type Logger, silentLogger } from '../logger.ts';
import { openStoreDb, type StoreDb, type StoreDurability, type StoredRow } from './store-db.ts';

export type { StoreDurability, StoredRow } from './store-db.ts';

/** File name of the store inside the gateway's data directory. */
export const STORE_FILE = 'store.db';

export interface MessageStoreOptions {
  /** The gateway's data directory; the store is `DIR/store.db`. */
  readonly dir: string;
  readonly settings: Pick<StoreAndForwardSettings, 'timeToLiveSecs' | 'maxBytes' | 'fullPolicy'>;
  /** Default `normal` (survives kill -9, not power loss); see StoreDurability. */
  readonly durability?: StoreDurability;
  /** Clock for expiry, ms since epoch. Default Date.now. */
  readonly now?: () => number;
  readonly logger?: Logger;
  /** Commit as soon as this many messages wait rather than on the next event-loop turn. Default 1000. */
  readonly maxBatch?: number;
}

export interface StoreCounters {
  /** Messages held (committed) and their payload + topic bytes. */
  readonly queued: number;
  readonly bytes: number;
  /** Accepted by enqueue since start. */
  readonly enqueued: number;
  /** Dropped because they outlived time_to_live_secs. */
  readonly expired: number;
  /** Evicted by the drop-oldest policy. */
  readonly dropped: number;
  /** Refused by enqueue because the store was full (refuse policy) or the message alone exceeds max_bytes. */
  readonly refused: number;
  /** Set aside because the upstream kept refusing them (see Sender). */
  readonly rejected: number;
}

interface PendingInsert {
  readonly deviceId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly enqueuedAt: number;
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

type DeleteReason = 'sent' | 'expired' | 'rejected';

/** A full store under the refuse policy looks for expired messages at most this often. */
const FULL_SWEEP_INTERVAL_MS = 1_000;

/**
 * The durable store-and-forward queue. Writes are group-committed: every enqueue and every deletion
 * (PUBACKed or expired) made in one turn of the event loop shares one SQLite transaction, and enqueue
 * promises resolve only after that transaction has committed. Rows are read back in `seq` order, which
 * is arrival order, so per-device order holds.
 */
export class MessageStore {
  private readonly db: StoreDb;
  private readonly settings: MessageStoreOptions['settings'];
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly maxBatch: number;
  private readonly listeners = new Set<() => void>();

  private pending: PendingInsert[] = [];
  private pendingBytes = 0;
  private deletes = new Map<number, { readonly bytes: number; readonly reason: DeleteReason }>();
  private deleteBytes = 0;
  private flushScheduled = false;
  private closed = false;
  private lastFullSweepAt = Number.NEGATIVE_INFINITY;
  private inFlight: (seq: number) => boolean = () => false;

  private count: number;
  private bytes: number;
  private enqueued = 0;
  private expired = 0;
  private dropped = 0;
  private refused = 0;
  private rejected = 0;

  constructor(options: MessageStoreOptions) {
    this.settings = options.settings;
    this.now = options.now ?? Date.now;
    this.log = (options.logger ?? silentLogger()).child({ component: 'upstream-store' });
    this.maxBatch = Math.max(1, options.maxBatch ?? 1000);
    this.db = openStoreDb(options.dir, STORE_FILE, options.durability ?? 'normal');
    const totals = this.db.totals();
    this.count = totals.count;
    this.bytes = totals.bytes;
    this.log.info(
      { path: this.db.path, durability: this.db.durability, queued: this.count, bytes: this.bytes },
      this.count > 0 ? 'store opened with messages still to forward' : 'store opened',
    );
  }

  get path(): string {
    return this.db.path;
  }

  /** `normal` or `full`, as SQLite reports it. */
  get durability(): StoreDurability {
    return this.db.durability;
  }

  /**
   * Stores one message. Resolves after the commit that holds it; rejects with GH_ERR_STORE_FULL when
   * the refuse policy applies (or the message alone exceeds max_bytes), GH_ERR_STORE on I/O failure.
   */
  add(deviceId: string, topic: string, payload: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new GatehouseError('GH_ERR_STORE', 'store is closed'));
    const bytes = Buffer.byteLength(topic) + payload.length;
    const max = this.settings.maxBytes;
    if (bytes > max) {
      this.refused++;
      return Promise.reject(
        new GatehouseError('GH_ERR_STORE_FULL', `message of ${bytes} bytes exceeds store max_bytes ${max}`, {
          details: { deviceId, bytes, maxBytes: max },
        }),
      );
    }
    if (this.settings.fullPolicy === 'refuse' && !this.hasRoomFor(bytes)) {
      this.refused++;
      return Promise.reject(
        new GatehouseError('GH_ERR_STORE_FULL', `store full (${this.usedBytes()} of ${max} bytes)`, {
          details: { deviceId, bytes, maxBytes: max },
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ deviceId, topic, payload, enqueuedAt: this.now(), bytes, resolve, reject });
      this.pendingBytes += bytes;
      if (this.pending.length >= this.maxBatch) this.flush();
      else this.scheduleFlush();
    });
  }

  /** Committed rows after `afterSeq`, in order, leaving out those already due for deletion. */
  readAfter(afterSeq: number, limit: number): StoredRow[] {
    if (this.closed) return [];
    const rows = this.db.readAfter(afterSeq, limit);
    return this.deletes.size === 0 ? rows : rows.filter((r) => !this.deletes.has(r.seq));
  }

  isExpired(row: Pick<StoredRow, 'enqueuedAt'>): boolean {
    return this.now() - row.enqueuedAt > this.settings.timeToLiveSecs * 1000;
  }

  /** The message was PUBACKed upstream: delete it in the next commit. */
  markSent(seq: number, bytes: number): void {
    this.markForDelete(seq, bytes, 'sent');
  }

  /** The message outlived its TTL: delete it unsent in the next commit, counted as expired. */
  markExpired(seq: number, bytes: number): void {
    this.markForDelete(seq, bytes, 'expired');
  }

  /** The upstream will not take the message: delete it unsent, counted as rejected. */
  markRejected(seq: number, bytes: number): void {
    this.markForDelete(seq, bytes, 'rejected');
  }

  /** Tells expiry sweeps which rows are published and awaiting PUBACK, so they are not counted expired. */
  setInFlightCheck(check: (seq: number) => boolean): void {
    this.inFlight = check;
  }

  /**
   * Deletes expired messages from the head of the queue (oldest first), skipping those in flight
   * upstream. Stops at the first unexpired one: rows are in arrival order, so the rest are younger (a
   * clock stepped back only delays expiry until the sender reaches them).
   */
  sweepExpired(): number {
    if (this.closed) return 0;
    let removed = { count: 0, bytes: 0 };
    try {
      this.db.transaction(() => {
        removed = this.db.expireHead(
          (enqueuedAt) => this.isExpired({ enqueuedAt }),
          (seq) => this.inFlight(seq) || this.deletes.has(seq),
        );
      });
    } catch (err) {
      this.log.error({ err }, 'expiry sweep failed');
      return 0;
    }
    this.count -= removed.count;
    this.bytes -= removed.bytes;
    this.expired += removed.count;
    if (removed.count > 0) {
      this.log.warn({ expired: removed.count }, 'dropped messages older than time_to_live_secs');
    }
    return removed.count;
  }

  /** Called after every commit that added rows, so the sender can read them. */
  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  counters(): StoreCounters {
    return {
      queued: this.count,
      bytes: this.bytes,
      enqueued: this.enqueued,
      expired: this.expired,
      dropped: this.dropped,
      refused: this.refused,
      rejected: this.rejected,
    };
  }

  /** Commits what is pending, then closes the file. Later adds reject. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private usedBytes(): number {
    return this.bytes + this.pendingBytes - this.deleteBytes;
  }

  private hasRoomFor(bytes: number): boolean {
    if (this.usedBytes() + bytes <= this.settings.maxBytes) return true;
    // Before refusing, reclaim what has expired; rate-limited so a full store is not rescanned per message.
    const at = this.now();
    if (at - this.lastFullSweepAt < FULL_SWEEP_INTERVAL_MS) return false;
    this.lastFullSweepAt = at;
    this.flush();
    this.sweepExpired();
    return this.usedBytes() + bytes <= this.settings.maxBytes;
  }

  private markForDelete(seq: number, bytes: number, reason: DeleteReason): void {
    if (this.closed || this.deletes.has(seq)) return;
    this.deletes.set(seq, { bytes, reason });
    this.deleteBytes += bytes;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const inserts = this.pending;
    const deletes = this.deletes;
    if (inserts.length === 0 && deletes.size === 0) return;
    this.pending = [];
    this.pendingBytes = 0;
    this.deletes = new Map();
    this.deleteBytes = 0;

    // Counters change only once the transaction has committed.
    let count = this.count;
    let bytes = this.bytes;
    let expired = 0;
    let rejected = 0;
    let dropped = 0;
    let keepFrom = 0;
    try {
      this.db.transaction(() => {
        for (const [seq, d] of deletes) {
          if (!this.db.remove(seq)) continue; // already evicted by drop-oldest
          count--;
          bytes -= d.bytes;
          if (d.reason === 'expired') expired++;
          else if (d.reason === 'rejected') rejected++;
        }
        const incoming = inserts.reduce((n, p) => n + p.bytes, 0);
        if (this.settings.fullPolicy === 'drop-oldest') {
          let excess = bytes + incoming - this.settings.maxBytes;
          if (excess > 0) {
            const evicted = this.db.evictOldest(excess);
            count -= evicted.count;
            bytes -= evicted.bytes;
            excess -= evicted.bytes;
            dropped += evicted.count;
          }
          // Still over with the queue empty: this batch alone is too big, so its oldest go too.
          while (excess > 0 && keepFrom < inserts.length) {
            excess -= (inserts[keepFrom] as PendingInsert).bytes;
            keepFrom++;
            dropped++;
          }
        }
        for (let i = keepFrom; i < inserts.length; i++) {
          const p = inserts[i] as PendingInsert;
          this.db.insert(p.deviceId, p.topic, p.payload, p.enqueuedAt, p.bytes);
          count++;
          bytes += p.bytes;
        }
      });
    } catch (err) {
      const error = new GatehouseError('GH_ERR_STORE', `store ${this.db.path}: write failed`, { cause: err });
      this.log.error({ err, messages: inserts.length }, 'store commit failed; messages refused');
      for (const p of inserts) p.reject(error);
      return;
    }
    this.count = count;
    this.bytes = bytes;
    this.expired += expired;
    this.rejected += rejected;
    this.dropped += dropped;
    this.enqueued += inserts.length;
    if (dropped > 0)
      this.log.warn({ dropped }, 'store full: dropped the oldest messages (drop-oldest policy)');
    for (const p of inserts) p.resolve();
    if (inserts.length > keepFrom) for (const l of this.listeners) l();
  }
}
