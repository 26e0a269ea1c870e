import { startLoad } from './load/driver.ts';
import type { LoadConfig } from './load/protocol.ts';
import { cpuMicros, processTree, rssBytes } from './proc.ts';
import type { ServerHandle, ServerName } from './servers/handle.ts';
import { percentile } from './stats.ts';

/** One measured window of one server: the figures the handshake benchmark reports. */
export interface Measurement {
  readonly server: ServerName;
  readonly completed: number;
  readonly elapsedMs: number;
  readonly connectsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server utime + stime over the window ÷ completed attempts, µs; NaN when the server is not local. */
  readonly serverCpuPerConnectUs: number;
  /** Server CPU over the window ÷ wall time: how busy it was (1 = one core). */
  readonly serverCpuCores: number;
  readonly serverRssBytes: number;
  readonly clientCpuPerConnectUs: number;
  readonly outcomes: Record<string, number>;
  readonly failures: Record<string, number>;
  readonly resumed: number;
}

export interface MeasureOptions {
  readonly server: ServerHandle;
  /** Load settings without the target (taken from the server). */
  readonly load: Omit<LoadConfig, 'host' | 'port'>;
  readonly procs: number;
  /** Load runs this long before the window opens (ramp, JIT, session tickets collected). */
  readonly rampMs: number;
  readonly durationMs: number;
  /** Called about once a second with the counts so far in the window. */
  readonly onProgress?: (elapsedMs: number, completed: number, failed: number) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function measureRound(options: MeasureOptions): Promise<Measurement> {
  const { server } = options;
  const load = await startLoad({
    procs: options.procs,
    config: { ...options.load, host: server.host, port: server.port },
  });
  try {
    await sleep(options.rampMs);
    const pids = server.rootPid === undefined ? [] : processTree([server.rootPid]);
    const marked = load.mark();
    const cpu0 = cpuMicros(pids);
    await marked;
    const started = Date.now();
    // Bounded by durationMs; progress once a second.
    while (Date.now() - started < options.durationMs) {
      await sleep(Math.min(1_000, options.durationMs - (Date.now() - started)));
      const p = load.progress();
      options.onProgress?.(Date.now() - started, p.completed, p.failed);
    }
    const cpu1 = cpuMicros(pids);
    const rss = rssBytes(pids);
    const window = await load.stop();
    const completed = window.completed;
    const seconds = window.elapsedMs / 1000;
    const local = pids.length > 0;
    return {
      server: server.name,
      completed,
      elapsedMs: window.elapsedMs,
      connectsPerSec: seconds > 0 ? completed / seconds : Number.NaN,
      p50Ms: percentile(window.latenciesMs, 50),
      p99Ms: percentile(window.latenciesMs, 99),
      serverCpuPerConnectUs: local && completed > 0 ? (cpu1 - cpu0) / completed : Number.NaN,
      serverCpuCores: local && seconds > 0 ? (cpu1 - cpu0) / 1e6 / seconds : Number.NaN,
      serverRssBytes: local ? rss : Number.NaN,
      clientCpuPerConnectUs: completed > 0 ? window.clientCpuMicros / completed : Number.NaN,
      outcomes: window.outcomes,
      failures: window.failures,
      resumed: window.resumed,
    };
  } finally {
    await load.close();
  }
}
