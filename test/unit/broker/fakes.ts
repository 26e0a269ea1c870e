import { Duplex } from 'node:stream';
import type { Packet } from 'mqtt-packet';
import * as mqttPacket from 'mqtt-packet';
import type { BrokerRegistry, RegistryChange, RegistryStatus } from '../../../src/broker/types.ts';
import type { CertInfo } from '../../../src/pki/index.ts';
import type { DeviceRecord } from '../../../src/registry/device.ts';
import { isInSubtree } from '../../../src/registry/scope.ts';
import type { C2dMessage, Forwarder, TelemetryMessage, UpstreamState } from '../../../src/upstream/types.ts';

let generation = 0;

/** A registry record for tests. */
export function deviceRecord(
  deviceId: string,
  auth: DeviceRecord['authentication'],
  extra: Partial<Pick<DeviceRecord, 'status' | 'parentId'>> & { edge?: boolean } = {},
): DeviceRecord {
  generation++;
  return {
    deviceId,
    status: extra.status ?? 'enabled',
    authentication: auth,
    capabilities: { iotEdge: extra.edge ?? false },
    ...(extra.parentId ? { parentId: extra.parentId } : {}),
    etag: `e${generation}`,
    generation,
    lastUpdated: new Date(0).toISOString(),
  };
}

/** An in-memory registry cache: the records in scope are exactly those added. */
export class FakeRegistry implements BrokerRegistry {
  readonly byId = new Map<string, DeviceRecord>();
  /** Records only lookup() finds (an on-demand fetch). */
  readonly remote = new Map<string, DeviceRecord>();
  cas: readonly CertInfo[] = [];
  lookups: string[] = [];
  lookupError: Error | undefined;
  state: RegistryStatus['state'] = 'synced';
  readonly #listeners: Array<(c: RegistryChange) => void> = [];

  add(record: DeviceRecord): this {
    this.byId.set(record.deviceId, record);
    return this;
  }
  get(deviceId: string): DeviceRecord | undefined {
    return this.byId.get(deviceId);
  }
  async lookup(deviceId: string): Promise<DeviceRecord | undefined> {
    this.lookups.push(deviceId);
    if (this.lookupError) throw this.lookupError;
    const found = this.byId.get(deviceId) ?? this.remote.get(deviceId);
    if (found) this.byId.set(deviceId, found);
    return found;
  }
  refreshes: string[] = [];
  async refresh(deviceId: string): Promise<DeviceRecord | undefined> {
    this.refreshes.push(deviceId);
    const fresh = this.remote.get(deviceId);
    if (fresh) this.byId.set(deviceId, fresh);
    return this.byId.get(deviceId);
  }
  inScope(deviceId: string): boolean {
    return this.byId.has(deviceId);
  }
  mayActFor(actorId: string, targetId: string): boolean {
    return isInSubtree((id) => this.byId.get(id), actorId, targetId);
  }
  verifiedCas(): readonly CertInfo[] {
    return this.cas;
  }
  onChange(listener: (c: RegistryChange) => void): void {
    this.#listeners.push(listener);
  }
  status(): RegistryStatus {
    return { state: this.state, size: this.byId.size, lastSyncAt: 0, lastError: undefined };
  }
  emit(change: Partial<RegistryChange>): void {
    for (const l of this.#listeners) l({ disabledOrRemoved: [], updated: [], ...change });
  }
}

/** A forwarder that records what it is given; enqueue's outcome is set per test. */
export class FakeForwarder implements Forwarder {
  readonly enqueued: TelemetryMessage[] = [];
  readonly bestEffort: TelemetryMessage[] = [];
  readonly watches = new Map<string, number>();
  /** Decides each enqueue; default resolves at once. */
  enqueueImpl: (m: TelemetryMessage) => Promise<void> = async () => {};
  upstreamState: UpstreamState = 'connected';
  #c2d: ((m: C2dMessage) => unknown) | undefined;
  /** What the broker's handler answered for each C2D message. */
  readonly c2dTaken: unknown[] = [];

  enqueue(m: TelemetryMessage): Promise<void> {
    return this.enqueueImpl(m).then(() => {
      this.enqueued.push(m);
    });
  }
  forwardBestEffort(m: TelemetryMessage): void {
    this.bestEffort.push(m);
  }
  watchC2d(deviceId: string): void {
    this.watches.set(deviceId, (this.watches.get(deviceId) ?? 0) + 1);
  }
  unwatchC2d(deviceId: string): void {
    const n = (this.watches.get(deviceId) ?? 0) - 1;
    if (n < 0) throw new Error(`unwatch of unwatched ${deviceId}`);
    if (n === 0) this.watches.delete(deviceId);
    else this.watches.set(deviceId, n);
  }
  onC2d(handler: (m: C2dMessage) => unknown): void {
    this.#c2d = handler;
  }
  sendC2d(m: C2dMessage): void {
    this.c2dTaken.push(this.#c2d?.(m));
  }
  state(): UpstreamState {
    return this.upstreamState;
  }
  async close(): Promise<void> {}
}

/** Two connected in-memory streams: what one writes the other reads. */
export function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const make = (other: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        other().push(chunk);
        cb();
      },
      final(cb) {
        other().push(null);
        cb();
      },
      destroy(err, cb) {
        const o = other();
        if (!o.destroyed) o.destroy();
        cb(err);
      },
    });
  sides.push(
    make(() => sides[1] as Duplex),
    make(() => sides[0] as Duplex),
  );
  return [sides[0] as Duplex, sides[1] as Duplex];
}

/** The device end of an in-memory MQTT connection: writes packets, collects what the broker sends. */
export class TestMqttClient {
  readonly received: Packet[] = [];
  closed = false;
  readonly #stream: Duplex;
  readonly #waiters: Array<() => void> = [];

  constructor(stream: Duplex) {
    this.#stream = stream;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      this.received.push(p);
      this.#wake();
    });
    stream.on('data', (buf: Buffer) => parser.parse(buf));
    stream.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    stream.on('error', () => {});
  }

  send(packet: Record<string, unknown>): void {
    this.#stream.write(mqttPacket.generate(packet as unknown as Packet));
  }
  sendRaw(bytes: Buffer): void {
    this.#stream.write(bytes);
  }

  /** Waits (bounded) until a packet matching `pred` arrived or the stream closed. */
  async waitFor(pred: (p: Packet) => boolean, timeoutMs = 2000): Promise<Packet | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.find(pred);
      if (hit) return hit;
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    await this.waitFor(() => false, timeoutMs);
    return this.closed;
  }
  end(): void {
    this.#stream.destroy();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** Resolves after the event loop had a chance to run pending I/O callbacks. */
export const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));
