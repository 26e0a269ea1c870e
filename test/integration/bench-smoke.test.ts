import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchPki, createBenchPki } from '../../benchmarks/lib/fixtures.ts';
import type { LoadConfig } from '../../benchmarks/lib/load/protocol.ts';
import { measureRound } from '../../benchmarks/lib/measure.ts';
import type { ServerHandle } from '../../benchmarks/lib/servers/handle.ts';
import { startServer } from '../../benchmarks/lib/servers/lineup.ts';
import { makeTempDir } from '../helpers/pki.ts';

/**
 * The handshake load generator against the bare Node baseline, for a couple of seconds: it must count
 * real connects, and count refusals (not successes) for devices the server does not know.
 * No timing is asserted.
 */
describe('handshake benchmark harness (bare Node baseline)', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  let pki: BenchPki;
  let server: ServerHandle;

  beforeAll(async () => {
    tmp = await makeTempDir('gatehouse-bench-smoke-');
    pki = await createBenchPki({ dir: tmp.dir, serverKeyType: 'ec-p256', pool: 2 });
    server = await startServer('node', {
      pki,
      devices: 'thumbprint',
      thumbprintDevices: 2,
      maxConnections: 16,
    });
  });

  afterAll(async () => {
    await server?.close();
    await tmp?.cleanup();
  });

  const load = (devices: 'thumbprint' | 'unknown', expect: 'accept' | 'refuse', resume = false) =>
    ({
      servername: 'localhost',
      caPem: pki.rootPem,
      identities: pki.identities(devices, 2),
      username: undefined,
      resume,
      expect,
      timeoutMs: 10_000,
      keepAliveSecs: 0,
      mode: 'loop',
      holdConcurrency: 1,
      maxRunMs: 60_000,
    }) satisfies Omit<LoadConfig, 'host' | 'port'>;

  it('counts successful connects and no failures for registered devices', async () => {
    const m = await measureRound({
      server,
      load: load('thumbprint', 'accept'),
      procs: 1,
      rampMs: 200,
      durationMs: 2_000,
    });
    expect(m.failures).toEqual({});
    expect(m.completed).toBeGreaterThan(0);
    expect(m.outcomes).toEqual({ accepted: m.completed });
    expect(m.serverCpuPerConnectUs).toBeGreaterThan(0);
    expect(m.serverRssBytes).toBeGreaterThan(0);
  });

  it('reuses session tickets when asked to', async () => {
    const m = await measureRound({
      server,
      load: load('thumbprint', 'accept', true),
      procs: 1,
      rampMs: 300,
      durationMs: 1_000,
    });
    expect(m.failures).toEqual({});
    expect(m.completed).toBeGreaterThan(0);
    // Each client's first connect is a full handshake; it may fall inside the window on a slow machine.
    expect(m.resumed).toBeGreaterThan(0);
    expect(m.resumed).toBeGreaterThanOrEqual(m.completed - 2);
  });

  it('counts refusals of unknown devices as the expected outcome, never as accepted', async () => {
    const m = await measureRound({
      server,
      load: load('unknown', 'refuse'),
      procs: 1,
      rampMs: 300,
      durationMs: 1_000,
    });
    expect(m.failures).toEqual({});
    expect(m.completed).toBeGreaterThan(0);
    expect(m.outcomes).toEqual({ 'connack-5': m.completed });
  });

  it('reports unknown devices as failures when acceptance was expected', async () => {
    const m = await measureRound({
      server,
      load: load('unknown', 'accept'),
      procs: 1,
      rampMs: 300,
      durationMs: 1_000,
    });
    expect(m.completed).toBe(0);
    expect(Object.keys(m.failures)).toEqual(['refused:connack-5']);
  });
});
