import type { ScopeCa, ScopeOne, ScopePage } from '../../../src/iothub/scope-api.ts';
import { createLogger, type Logger } from '../../../src/logger.ts';
import type { CertInfo } from '../../../src/pki/index.ts';
import type { DeviceRecord } from '../../../src/registry/device.ts';
import type { ScopeSource } from '../../../src/registry/types.ts';

export const EDGE = 'gw-1';

let etag = 0;

/** A valid record; thumbprint auth unless `ca` is set. */
export function rec(
  deviceId: string,
  opts: { parentId?: string; edge?: boolean; disabled?: boolean; thumb?: string; ca?: boolean } = {},
): DeviceRecord {
  return {
    deviceId,
    status: opts.disabled ? 'disabled' : 'enabled',
    authentication: opts.ca
      ? { type: 'certificateAuthority' }
      : { type: 'selfSigned', primaryThumbprint: opts.thumb ?? 'A'.repeat(64) },
    capabilities: { iotEdge: opts.edge ?? false },
    ...(opts.parentId !== undefined ? { parentId: opts.parentId } : { parentId: EDGE }),
    etag: `e${++etag}`,
    generation: etag,
    lastUpdated: '2024-01-01T00:00:00.000Z',
  };
}

export function scopeCa(cert: CertInfo, name = cert.subjectCn ?? 'ca'): ScopeCa {
  return { name, certificatePem: cert.pem, thumbprint: cert.sha256 };
}

/**
 * An in-memory upstream: serves `devices` in pages of `pageSize`, answers fetchOne from the same
 * list, counts calls, and can be told to fail or to return whatever a test wants.
 */
export class FakeSource implements ScopeSource {
  devices: DeviceRecord[] = [];
  cas: ScopeCa[] = [];
  pageSize = 2;
  /** When set, every call rejects with it. */
  failure: Error | undefined;
  /** When set, replaces the answer to page number N (0-based). */
  pageOverride: ((index: number, page: ScopePage) => unknown) | undefined;
  oneOverride: ((deviceId: string) => unknown) | undefined;
  pageCalls = 0;
  oneCalls: string[] = [];
  /** Resolves a held fetchOne (set `holdOne` first). */
  holdOne = false;
  private held: Array<() => void> = [];

  async fetchPage(continuation: string | null): Promise<ScopePage> {
    this.pageCalls++;
    if (this.failure) throw this.failure;
    const index = continuation === null ? 0 : Number(continuation.split('page=')[1]);
    const start = index * this.pageSize;
    const more = start + this.pageSize < this.devices.length;
    const page: ScopePage = {
      edgeDeviceId: EDGE,
      devices: this.devices.slice(start, start + this.pageSize),
      caCertificates: this.cas,
      continuationLink: more ? `/scope?page=${index + 1}` : null,
    };
    return (this.pageOverride ? this.pageOverride(index, page) : page) as ScopePage;
  }

  async fetchOne(deviceId: string): Promise<ScopeOne> {
    this.oneCalls.push(deviceId);
    if (this.holdOne) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.failure) throw this.failure;
    if (this.oneOverride) return this.oneOverride(deviceId) as ScopeOne;
    return {
      edgeDeviceId: EDGE,
      device: this.devices.find((d) => d.deviceId === deviceId) ?? null,
      caCertificates: this.cas,
    };
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

/** A logger whose JSON lines tests can read back. */
export function captureLogger(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => raw.push(s) } });
  return { logger, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export const SETTINGS = {
  refreshIntervalSecs: 3600,
  cacheSize: 1000,
  onDemandMinIntervalSecs: 30,
  negativeTtlSecs: 10,
};

/** A controllable clock. */
export function clock(start = Date.UTC(2025, 0, 1)): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}
