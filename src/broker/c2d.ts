import type { Logger } from '../logger.ts';
import type { C2dMessage, Forwarder } from '../upstream/types.ts';
import type { BurstLog } from './burst-log.ts';
import type { BrokerMetrics } from './metrics.ts';
import type { DeviceSession } from './session.ts';

const C2D_TOPIC = /^devices\/([^/]+)\/messages\/devicebound(?:\/|$)/;

/** The device a `devices/{id}/messages/devicebound/…` topic is addressed to, or undefined. */
export function c2dTopicDeviceId(topic: string): string | undefined {
  return C2D_TOPIC.exec(topic)?.[1];
}

/** The C2D subscriptions of one MQTT session (client id), owned by its latest connection. */
interface WatchEntry {
  owner: DeviceSession;
  readonly targets: Set<string>;
}

export interface C2dRouterOptions {
  readonly forwarder: Forwarder;
  /** Hands a C2D message to aedes (QoS 1), which delivers it or keeps it for a persistent session. */
  readonly publish: (message: C2dMessage) => void;
  /** Most messages kept for a device whose subscribers are all offline (persistent sessions). */
  readonly maxOfflinePerDevice: number;
  readonly metrics: BrokerMetrics;
  readonly burst: BurstLog;
  readonly log: Logger;
}

/**
 * Keeps the upstream C2D watches (forwarder.watchC2d, refcounted there) in step with device
 * subscriptions. Watches belong to the MQTT session, keyed by client id: a clean session drops
 * them when it ends; a persistent one keeps them so aedes can queue C2D for it while offline —
 * bounded here, because aedes' memory persistence queues without limit.
 */
export class C2dRouter {
  readonly #opts: C2dRouterOptions;
  readonly #sessions = new Map<string, WatchEntry>();
  readonly #byTarget = new Map<string, Set<WatchEntry>>();
  readonly #offlineQueued = new Map<string, number>();

  constructor(opts: C2dRouterOptions) {
    this.#opts = opts;
  }

  /** A connection authenticated: it takes over its session's watches (or drops them if clean). */
  sessionStarted(session: DeviceSession): void {
    const entry = this.#sessions.get(session.deviceId);
    if (!entry) return;
    if (session.clean) {
      this.#drop(session.deviceId, entry);
      return;
    }
    entry.owner = session;
    for (const target of entry.targets) this.#offlineQueued.delete(target);
  }

  /** The connection closed; a persistent session's watches stay for its next connection. */
  sessionEnded(session: DeviceSession): void {
    session.live = false;
    const entry = this.#sessions.get(session.deviceId);
    if (entry?.owner === session && session.clean) this.#drop(session.deviceId, entry);
  }

  watch(session: DeviceSession, target: string): void {
    let entry = this.#sessions.get(session.deviceId);
    if (!entry) {
      entry = { owner: session, targets: new Set() };
      this.#sessions.set(session.deviceId, entry);
    }
    // A connection already replaced by a newer one with the same client id changes nothing.
    if (entry.owner !== session || entry.targets.has(target)) return;
    entry.targets.add(target);
    let watchers = this.#byTarget.get(target);
    if (!watchers) {
      watchers = new Set();
      this.#byTarget.set(target, watchers);
    }
    watchers.add(entry);
    this.#offlineQueued.delete(target);
    this.#opts.forwarder.watchC2d(target);
  }

  unwatch(session: DeviceSession, target: string): void {
    const entry = this.#sessions.get(session.deviceId);
    if (entry?.owner === session) this.#unwatchTarget(entry, target);
  }

  /** Devices disabled or removed: their sessions' watches go, and nobody watches them any more. */
  revoke(deviceIds: readonly string[]): void {
    for (const id of deviceIds) {
      const own = this.#sessions.get(id);
      if (own) this.#drop(id, own);
      const watchers = this.#byTarget.get(id);
      if (watchers) for (const entry of [...watchers]) this.#unwatchTarget(entry, id);
      this.#offlineQueued.delete(id);
    }
  }

  /**
   * A C2D message from upstream: checked, bounded for offline sessions, handed to aedes. Returns
   * false when no session took it, so the upstream may hold it (the Forwarder.onC2d contract).
   */
  deliver(message: C2dMessage): boolean {
    const { metrics, burst } = this.#opts;
    if (c2dTopicDeviceId(message.topic) !== message.deviceId) {
      metrics.c2dDropped('bad-topic');
      burst.note(
        'c2d:bad-topic',
        { deviceId: message.deviceId },
        'C2D message with a mismatched topic dropped',
      );
      // Consumed (dropped), not "offline": the upstream must not hold it for another try.
      return true;
    }
    const watchers = this.#byTarget.get(message.deviceId);
    if (!watchers) {
      metrics.c2dDropped('no-subscriber');
      return false;
    }
    if (!hasLiveOwner(watchers)) {
      const queued = this.#offlineQueued.get(message.deviceId) ?? 0;
      if (queued >= this.#opts.maxOfflinePerDevice) {
        metrics.c2dDropped('offline-queue-full');
        burst.note(
          `c2d:full:${message.deviceId}`,
          { deviceId: message.deviceId, max: this.#opts.maxOfflinePerDevice },
          'C2D message not queued: the offline device already has the maximum queued',
        );
        return false;
      }
      this.#offlineQueued.set(message.deviceId, queued + 1);
    }
    this.#opts.publish(message);
    return true;
  }

  /** Watches held (sessions × targets), for tests and diagnostics. */
  watchCount(): number {
    let n = 0;
    for (const entry of this.#sessions.values()) n += entry.targets.size;
    return n;
  }

  #unwatchTarget(entry: WatchEntry, target: string): void {
    if (!entry.targets.delete(target)) return;
    const watchers = this.#byTarget.get(target);
    watchers?.delete(entry);
    if (watchers?.size === 0) this.#byTarget.delete(target);
    this.#opts.forwarder.unwatchC2d(target);
  }

  #drop(clientId: string, entry: WatchEntry): void {
    for (const target of [...entry.targets]) this.#unwatchTarget(entry, target);
    this.#sessions.delete(clientId);
  }
}

function hasLiveOwner(watchers: Set<WatchEntry>): boolean {
  for (const entry of watchers) if (entry.owner.live) return true;
  return false;
}
