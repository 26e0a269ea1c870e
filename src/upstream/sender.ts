import type { MqttClient } from 'mqtt';
import type { Logger } from '../logger.ts';
import type { MessageStore, StoredRow } from './store.ts';

/** Rows looked at per pump call; a longer run of expired rows continues on the next turn. */
const MAX_ROWS_PER_PUMP = 4096;

/**
 * Connections in a row that ended with the same message first in line unacknowledged before it is set
 * aside. The hub closes the connection on a publish it refuses (a device moved out of this gateway's
 * subtree, a message over its size limit); without this, one such message would block every device's
 * queue behind it until its TTL. Five in a row with the same head is not what an outage looks like:
 * outages end connections at arbitrary points of the stream.
 */
export const POISON_STRIKES = 5;

/** Unacknowledged QoS 1 publishes allowed upstream at once. */
export const DEFAULT_INFLIGHT_WINDOW = 100;

interface InFlight {
  readonly bytes: number;
  readonly deviceId: string;
}

/**
 * Drains the durable store upstream over the current connection: QoS 1 publishes in `seq` order with
 * up to `window` awaiting PUBACK, so throughput is not one round trip per message. mqtt.js writes them
 * in order on one connection, so each device's messages reach the upstream in order. A row leaves the
 * store only when its PUBACK arrives; when the connection drops, everything unacknowledged is resent
 * from the start of the store on the next one (at-least-once; `$.mid` lets receivers drop the repeat).
 */
export class Sender {
  private readonly store: MessageStore;
  private readonly window: number;
  private readonly log: Logger;
  private client: MqttClient | undefined;
  /** Bumped per connection: acks arriving for an older connection's publishes are ignored. */
  private generation = 0;
  /** Highest seq read from the store on this connection. */
  private cursor = 0;
  /**
   * Rows read ahead (ascending seq, up to one window) and not yet published: the window refills from
   * memory as PUBACKs arrive, with one store read per window's worth of messages.
   */
  private ahead: StoredRow[] = [];
  private next = 0;
  private readonly inflight = new Map<number, InFlight>();
  private pumping = false;
  private sent = 0;
  private suspect: { seq: number; strikes: number } | undefined;

  constructor(options: { store: MessageStore; window?: number; logger: Logger }) {
    this.store = options.store;
    this.window = Math.max(1, options.window ?? DEFAULT_INFLIGHT_WINDOW);
    this.log = options.logger;
    // Read-ahead rows count as in flight too: they are about to be published, not to be expired.
    this.store.setInFlightCheck((seq) => this.inflight.has(seq) || this.isReadAhead(seq));
    this.store.onCommit(() => this.pump());
  }

  /** A new connection is up: resend everything still stored, oldest first. */
  attach(client: MqttClient): void {
    this.generation++;
    this.client = client;
    this.reset();
    this.pump();
  }

  detach(): void {
    this.noteDisconnect();
    this.generation++;
    this.client = undefined;
    this.reset();
  }

  inFlightCount(): number {
    return this.inflight.size;
  }

  sentCount(): number {
    return this.sent;
  }

  pump(): void {
    // A publish callback can run synchronously (e.g. on a client that is closing): no re-entry.
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let n = 0; this.client && this.inflight.size < this.window; n++) {
        if (n === MAX_ROWS_PER_PUMP) {
          setImmediate(() => this.pump());
          return;
        }
        const row = this.nextRow();
        if (!row) return;
        if (this.store.isExpired(row)) this.store.markExpired(row.seq, row.bytes);
        else this.publish(row);
      }
    } finally {
      this.pumping = false;
    }
  }

  private nextRow(): StoredRow | undefined {
    if (this.next >= this.ahead.length) {
      this.ahead = this.store.readAfter(this.cursor, this.window);
      this.next = 0;
      const last = this.ahead.at(-1);
      if (!last) return undefined;
      this.cursor = last.seq;
    }
    return this.ahead[this.next++];
  }

  private isReadAhead(seq: number): boolean {
    const first = this.ahead[this.next];
    return first !== undefined && seq >= first.seq && seq <= this.cursor;
  }

  private reset(): void {
    this.cursor = 0;
    this.ahead = [];
    this.next = 0;
    this.inflight.clear();
  }

  private publish(row: StoredRow): void {
    const client = this.client;
    if (!client) return;
    const { seq, bytes } = row;
    const generation = this.generation;
    this.inflight.set(seq, { bytes, deviceId: row.deviceId });
    client.publish(row.topic, row.payload, { qos: 1 }, (err) => {
      if (generation !== this.generation) return;
      if (err) {
        // The connection is failing; the link's close handler resends from the store on the next one.
        this.log.debug({ err, seq }, 'upstream publish not acknowledged');
        return;
      }
      this.inflight.delete(seq);
      if (this.suspect?.seq === seq) this.suspect = undefined;
      this.sent++;
      this.store.markSent(seq, bytes);
      this.pump();
    });
  }

  /** Counts a strike against the oldest unacknowledged message; sets it aside at POISON_STRIKES. */
  private noteDisconnect(): void {
    // Map iteration is insertion order, and rows are published in seq order: the first is the oldest.
    const head = this.inflight.entries().next();
    if (head.done) return;
    const [seq, { bytes, deviceId }] = head.value;
    const strikes = this.suspect?.seq === seq ? this.suspect.strikes + 1 : 1;
    this.suspect = { seq, strikes };
    if (strikes < POISON_STRIKES) return;
    this.suspect = undefined;
    this.store.markRejected(seq, bytes);
    this.log.error(
      { seq, deviceId, strikes },
      'upstream closed the connection on this message every time; set aside so the queue behind it moves',
    );
  }
}
