import type { BenchPki } from '../lib/fixtures.ts';
import { startLoad } from '../lib/load/driver.ts';
import type { LoadConfig } from '../lib/load/protocol.ts';
import { processTree, rssBytes } from '../lib/proc.ts';
import type { ServerHandle, ServerMemory, ServerName } from '../lib/servers/handle.ts';

/** One server, one round: RSS before and after holding N idle connections. */
export interface IdleMeasurement {
  readonly server: ServerName;
  readonly requested: number;
  readonly opened: number;
  readonly failures: Record<string, number>;
  readonly openSeconds: number;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  /** (RSS after − RSS before) ÷ connections opened. */
  readonly rssPerConnectionBytes: number;
  /** Node servers only: V8 heap and off-heap (Buffers, OpenSSL objects counted by Node) per connection. */
  readonly heapPerConnectionBytes: number;
  readonly externalPerConnectionBytes: number;
}

export interface HoldOptions {
  readonly server: ServerHandle;
  readonly pki: BenchPki;
  readonly connections: number;
  readonly concurrency: number;
  readonly procs: number;
  readonly settleMs: number;
  readonly timeoutMs: number;
  readonly onProgress: (open: number, failed: number) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function holdThenRelease(
  options: HoldOptions,
  count: number,
  whileHeld: () => Promise<void>,
): Promise<{ opened: number; failures: Record<string, number>; openSeconds: number }> {
  const { server, pki } = options;
  const config: LoadConfig = {
    host: server.host,
    port: server.port,
    servername: 'localhost',
    caPem: pki.rootPem,
    identities: pki.identities('thumbprint', count),
    username: undefined,
    resume: false,
    expect: 'accept',
    timeoutMs: options.timeoutMs,
    keepAliveSecs: 0,
    mode: 'hold',
    holdConcurrency: options.concurrency,
    maxRunMs: 30 * 60_000,
  };
  const started = Date.now();
  let load: Awaited<ReturnType<typeof startLoad>> | undefined;
  const ticker = setInterval(() => {
    const p = load?.progress();
    if (p) options.onProgress(p.open, p.failed);
  }, 1_000);
  try {
    load = await startLoad({
      config,
      procs: options.procs,
      openFiles: Math.ceil(count / options.procs) + 256,
    });
    const openSeconds = (Date.now() - started) / 1000;
    await whileHeld();
    await load.release();
    return { opened: load.opened.completed, failures: load.opened.failures, openSeconds };
  } finally {
    clearInterval(ticker);
    await load?.close();
  }
}

async function settledMemory(
  server: ServerHandle,
  settleMs: number,
): Promise<{ rss: number; memory: ServerMemory | undefined }> {
  await sleep(settleMs);
  const memory = await server.gc();
  const pids = server.rootPid === undefined ? [] : processTree([server.rootPid]);
  return { rss: rssBytes(pids), memory };
}

export async function measureIdle(options: HoldOptions): Promise<IdleMeasurement> {
  const { server } = options;
  // Warm-up: open and close a few connections so lazily built state is in the baseline, not the delta.
  await holdThenRelease(options, Math.min(100, options.connections), async () => {});
  const before = await settledMemory(server, options.settleMs);
  let after = before;
  const held = await holdThenRelease(options, options.connections, async () => {
    after = await settledMemory(server, options.settleMs);
  });
  const per = (a: number | undefined, b: number | undefined): number =>
    a === undefined || b === undefined || held.opened === 0 ? Number.NaN : (a - b) / held.opened;
  return {
    server: server.name,
    requested: options.connections,
    opened: held.opened,
    failures: held.failures,
    openSeconds: held.openSeconds,
    rssBeforeBytes: before.rss,
    rssAfterBytes: after.rss,
    rssPerConnectionBytes: per(after.rss, before.rss),
    heapPerConnectionBytes: per(after.memory?.heapUsed, before.memory?.heapUsed),
    externalPerConnectionBytes: per(after.memory?.external, before.memory?.external),
  };
}
