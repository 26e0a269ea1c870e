import type { C2dMessage, Forwarder, TelemetryMessage, UpstreamState } from '../../../src/upstream/types.ts';

/**
 * A forwarder that drops everything: the handshake benchmarks publish nothing, and this keeps the
 * Gatehouse server free of an upstream link. It says "connected" so health is not degraded.
 */
export function createNoopForwarder(): Forwarder {
  return {
    enqueue: async (_m: TelemetryMessage): Promise<void> => {},
    forwardBestEffort: (_m: TelemetryMessage): void => {},
    watchC2d: (_id: string): void => {},
    unwatchC2d: (_id: string): void => {},
    onC2d: (_h: (m: C2dMessage) => void): void => {},
    state: (): UpstreamState => 'connected',
    close: async (): Promise<void> => {},
  };
}
