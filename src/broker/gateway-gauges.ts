import { Counter, Gauge } from 'prom-client';
import type { UpstreamState } from '../upstream/types.ts';
import type { BrokerMetrics } from './metrics.ts';
import type { RegistryState, RegistryStatus } from './types.ts';

/** Upstream totals the gateway exports when its forwarder reports them (createUpstream's stats()). */
export interface UpstreamTotals {
  readonly queued: number;
  readonly queuedBytes: number;
  readonly sent: number;
  readonly expired: number;
  readonly dropped: number;
  readonly refused: number;
}

export interface GatewayGaugeSources {
  readonly registryStatus: () => RegistryStatus;
  readonly upstreamState: () => UpstreamState;
  readonly upstreamTotals?: () => UpstreamTotals;
  readonly now?: () => number;
}

const REGISTRY_STATES: readonly RegistryState[] = ['synced', 'stale', 'offline', 'empty'];
const UPSTREAM_STATES: readonly UpstreamState[] = ['connected', 'connecting', 'offline', 'refused'];

/** Registry and upstream state, read when scraped (nothing is computed between scrapes). */
export function addGatewayGauges(metrics: BrokerMetrics, src: GatewayGaugeSources): void {
  const registers = [metrics.registry];
  const now = src.now ?? Date.now;
  new Gauge({
    name: 'gatehouse_registry_devices',
    help: 'Device records in the registry cache (this gateway’s scope)',
    registers,
    collect() {
      this.set(src.registryStatus().size);
    },
  });
  new Gauge({
    name: 'gatehouse_registry_last_sync_age_seconds',
    help: 'Seconds since the last successful full registry sync (absent before the first)',
    registers,
    collect() {
      const at = src.registryStatus().lastSyncAt;
      this.reset();
      if (at !== undefined) this.set(Math.max(0, (now() - at) / 1000));
    },
  });
  new Gauge({
    name: 'gatehouse_registry_state',
    help: 'Registry cache state (1 for the current one)',
    labelNames: ['state'],
    registers,
    collect() {
      const state = src.registryStatus().state;
      for (const s of REGISTRY_STATES) this.set({ state: s }, s === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'gatehouse_upstream_state',
    help: 'Upstream link state (1 for the current one)',
    labelNames: ['state'],
    registers,
    collect() {
      const state = src.upstreamState();
      for (const s of UPSTREAM_STATES) this.set({ state: s }, s === state ? 1 : 0);
    },
  });
  const totals = src.upstreamTotals;
  if (!totals) return;
  new Gauge({
    name: 'gatehouse_upstream_queued_messages',
    help: 'Telemetry messages waiting in the durable store',
    registers,
    collect() {
      this.set(totals().queued);
    },
  });
  new Gauge({
    name: 'gatehouse_upstream_queued_bytes',
    help: 'Bytes (topic + payload) waiting in the durable store',
    registers,
    collect() {
      this.set(totals().queuedBytes);
    },
  });
  for (const [key, help] of [
    ['sent', 'Telemetry messages acknowledged upstream'],
    ['expired', 'Telemetry messages dropped after time_to_live_secs'],
    ['dropped', 'Telemetry messages evicted by full_policy drop-oldest'],
    ['refused', 'Telemetry messages refused because the store was full'],
  ] as const) {
    let reported = 0;
    new Counter({
      name: `gatehouse_upstream_${key}_total`,
      help,
      registers,
      collect() {
        const value = totals()[key];
        if (value > reported) this.inc(value - reported);
        reported = value;
      },
    });
  }
}
