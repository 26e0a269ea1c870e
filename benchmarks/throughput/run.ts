/**
 * `npm run bench:throughput`: QoS 1 telemetry from N sensors through a gateway to the far end.
 *
 *   A. Gatehouse (broker + durable store-and-forward + upstream link) → Mosquitto "sink"
 *   B. Mosquitto edge (require_certificate) bridged over TLS → the same sink   (baseline)
 *   C. Gatehouse → the mock IoT Hub (the real far end; its own per-message SQLite insert included)
 *
 * A and B run alternately (A B A B) with the same load generator and sink, so their ratio is what
 * counts. Every server and the load run in separate processes; loopback only; bounded in time.
 * Environment: BENCH_SENSORS (20), BENCH_WINDOW (10 per sensor), BENCH_PAYLOAD (256 bytes),
 * BENCH_MEASURE_MS (8000), BENCH_ROUNDS (2).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../../test/helpers/pki.ts';
import { type BenchMessage, type ChildHandle, startChild } from '../lib/child.ts';
import { onInterrupt } from '../lib/cleanup.ts';
import { BENCH_GATEWAY_ID, BENCH_HOSTNAME, type BenchPki, createBenchPki } from '../lib/fixtures.ts';
import { gitFacts, machineFacts, timestampForFile } from '../lib/machine.ts';
import { cpuMicros, processTree } from '../lib/proc.ts';
import { mosquittoVersion } from '../lib/servers/mosquitto.ts';
import { median, ratio, round } from '../lib/stats.ts';
import { type MosquittoProcess, startBridge, startSink } from './mosquitto.ts';
import type { GatewayInit, LoadInit, LoadResult, TlsPeer } from './protocol.ts';

const env = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const SENSORS = env('BENCH_SENSORS', 20);
const WINDOW = env('BENCH_WINDOW', 10);
const PAYLOAD = env('BENCH_PAYLOAD', 256);
const WARMUP_MS = 2_000;
const MEASURE_MS = env('BENCH_MEASURE_MS', 8_000);
const ROUNDS = env('BENCH_ROUNDS', 2);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface PhaseResult extends LoadResult {
  readonly kind: 'gatehouse' | 'mosquitto' | 'gatehouse→hub';
  /** Arrivals at the far end per second (sink: during the window; hub: its intake of the window's messages). */
  readonly deliveredPerSec: number;
  /** Gateway process CPU (utime + stime) per message it acknowledged, µs. */
  readonly gatewayCpuUsPerMsg: number;
  /** Left in the gateway's store when the window closed (Gatehouse only). */
  readonly backlog: number | undefined;
}

async function child(entry: string, name: string): Promise<ChildHandle> {
  const c = startChild({ entry: join(HERE, entry), name });
  onInterrupt(() => c.kill());
  await c.next('loaded', 60_000);
  return c;
}

async function close(c: ChildHandle): Promise<void> {
  try {
    await c.request({ type: 'close' }, 15_000);
  } catch {
    // Already gone or stuck: make sure.
  }
  await c.kill();
}

/** Runs the load against `edge` while timing the gateway process tree's CPU over the measured window. */
async function measure(
  kind: PhaseResult['kind'],
  gatewayPid: number,
  load: LoadInit,
  backlog: () => Promise<number | undefined>,
): Promise<PhaseResult> {
  const gen = await child('load.ts', 'load');
  try {
    await gen.request({ type: 'init', init: load }, 60_000);
    const pids = () => processTree([gatewayPid]);
    let cpuStart = 0;
    const started = gen.next('measuring', WARMUP_MS + 30_000).then(() => {
      cpuStart = cpuMicros(pids());
    });
    const reply = await gen.request<BenchMessage & { result: LoadResult }>(
      { type: 'run', warmupMs: WARMUP_MS, measureMs: MEASURE_MS },
      WARMUP_MS + MEASURE_MS + 30_000,
    );
    await started;
    const cpu = cpuMicros(pids()) - cpuStart;
    const left = await backlog();
    return {
      kind,
      ...reply.result,
      deliveredPerSec: reply.result.delivered / reply.result.seconds,
      gatewayCpuUsPerMsg: cpu / Math.max(1, reply.result.acked),
      backlog: left,
    };
  } finally {
    await close(gen);
  }
}

async function readIdentity(pki: BenchPki): Promise<{ certPem: string; keyPem: string }> {
  const [certPem, keyPem] = await Promise.all([
    readFile(pki.files.identityCert, 'utf8'),
    readFile(pki.files.identityKey, 'utf8'),
  ]);
  return { certPem, keyPem };
}

function loadInit(pki: BenchPki, edgePort: number, sink: LoadInit['sink'], iotHub: boolean): LoadInit {
  return {
    edge: { host: '127.0.0.1', port: edgePort, servername: BENCH_HOSTNAME, caPem: pki.rootPem },
    sensors: pki.identities('thumbprint', SENSORS),
    iothubHostname: iotHub ? BENCH_HOSTNAME : undefined,
    windowPerSensor: WINDOW,
    payloadBytes: PAYLOAD,
    sink,
  };
}

async function gatehousePhase(
  pki: BenchPki,
  dataDir: string,
  upstream: TlsPeer,
  sink: LoadInit['sink'],
  kind: PhaseResult['kind'],
): Promise<{ result: PhaseResult; gateway: ChildHandle }> {
  const gateway = await child('gateway-server.ts', 'gateway');
  const identity = await readIdentity(pki);
  const init: GatewayInit = {
    host: '127.0.0.1',
    serverChainPem: pki.serverChainPem,
    serverKeyPem: pki.serverKeyPem,
    edgeDeviceId: BENCH_GATEWAY_ID,
    records: pki.records(SENSORS),
    upstream,
    identityCertPem: identity.certPem,
    identityKeyPem: identity.keyPem,
    dataDir,
  };
  const ready = await gateway.request<BenchMessage & { port: number }>({ type: 'init', init }, 60_000);
  const backlog = async () => {
    const r = await gateway.request<BenchMessage & { stats?: { queued: number } }>({ type: 'stats' }, 10_000);
    return r.stats?.queued;
  };
  const result = await measure(kind, gateway.pid, loadInit(pki, ready.port, sink, true), backlog);
  return { result, gateway };
}

async function main(): Promise<void> {
  const tmp = await makeTempDir('gatehouse-bench-throughput-');
  onInterrupt(tmp.cleanup);
  const pki = await createBenchPki({ dir: join(tmp.dir, 'pki'), serverKeyType: 'ec-p256', pool: SENSORS });
  const identity = await readIdentity(pki);
  const mosquitto = mosquittoVersion();
  const results: PhaseResult[] = [];
  let sink: MosquittoProcess | undefined;
  try {
    if (mosquitto) {
      sink = await startSink(tmp.dir, pki.files);
      const sinkPeer = { host: '127.0.0.1', port: sink.port, servername: BENCH_HOSTNAME, caPem: pki.rootPem };
      // The sink reader authenticates like the gateway (the sink trusts only that identity).
      const sinkReader = { ...sinkPeer, ...identity };
      for (let r = 0; r < ROUNDS; r++) {
        const { result, gateway } = await gatehousePhase(
          pki,
          join(tmp.dir, `gw-${r}`),
          sinkPeer,
          sinkReader,
          'gatehouse',
        );
        await close(gateway);
        results.push(result);
        report(result);
        const edge = await startBridge(tmp.dir, pki.files, sink.port, BENCH_GATEWAY_ID);
        try {
          const b = await measure(
            'mosquitto',
            edge.pid,
            loadInit(pki, edge.port, sinkReader, false),
            async () => Promise.resolve(undefined),
          );
          results.push(b);
          report(b);
        } finally {
          await edge.close();
        }
      }
    } else {
      process.stdout.write(
        'mosquitto not installed: phases A and B skipped (apt-get install -y mosquitto)\n',
      );
    }
    results.push(await hubPhase(pki, tmp.dir));
    report(results.at(-1) as PhaseResult);
  } finally {
    await sink?.close();
  }
  await writeResults(results, mosquitto);
  await tmp.cleanup();
}

async function hubPhase(pki: BenchPki, dir: string): Promise<PhaseResult> {
  const hub = await child('hub-server.ts', 'hub');
  try {
    const gatewayRecord = pki.records(0)[0];
    if (!gatewayRecord) throw new Error('bench fixtures gave no gateway record');
    const devices = [
      { deviceId: BENCH_GATEWAY_ID, auth: gatewayRecord.authentication, edge: true },
      ...pki.identities('thumbprint', SENSORS).map((s) => ({
        deviceId: s.clientId,
        auth: { type: 'certificateAuthority' as const },
        parentId: BENCH_GATEWAY_ID,
      })),
    ];
    const ready = await hub.request<BenchMessage & { mqttPort: number; rootCaPem: string }>(
      { type: 'init', init: { dataDir: join(dir, 'hub'), host: '127.0.0.1', devices } },
      60_000,
    );
    const upstream = {
      host: '127.0.0.1',
      port: ready.mqttPort,
      servername: BENCH_HOSTNAME,
      caPem: ready.rootCaPem,
    };
    const { result, gateway } = await gatehousePhase(
      pki,
      join(dir, 'gw-hub'),
      upstream,
      undefined,
      'gatehouse→hub',
    );
    try {
      // Let the store drain (bounded) so every message sent in the window can have arrived.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const s = await gateway.request<BenchMessage & { stats?: { queued: number } }>(
          { type: 'stats' },
          10_000,
        );
        if ((s.stats?.queued ?? 0) === 0 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await close(gateway);
    }
    const arrivals = await hub.request<
      BenchMessage & { count: number; p50: number; p99: number; spanMs: number }
    >({ type: 'arrivals', from: result.windowStart, to: result.windowEnd }, 120_000);
    return {
      ...result,
      delivered: arrivals.count,
      deliveredPerSec: arrivals.count / Math.max(0.001, arrivals.spanMs / 1000),
      latencyP50Ms: arrivals.p50,
      latencyP99Ms: arrivals.p99,
    };
  } finally {
    await close(hub);
  }
}

function report(r: PhaseResult): void {
  const line = [
    r.kind.padEnd(14),
    `acked ${round(r.acked / r.seconds, 0)} msg/s`,
    `delivered ${round(r.deliveredPerSec, 0)} msg/s`,
    `p50 ${round(r.latencyP50Ms ?? Number.NaN, 2)} ms`,
    `p99 ${round(r.latencyP99Ms ?? Number.NaN, 2)} ms`,
    `gateway CPU ${round(r.gatewayCpuUsPerMsg, 1)} µs/msg`,
    r.backlog !== undefined ? `backlog ${r.backlog}` : '',
    r.errors ? `errors ${r.errors}` : '',
  ];
  process.stdout.write(`${line.filter(Boolean).join(' | ')}\n`);
}

async function writeResults(results: PhaseResult[], mosquitto: string | null): Promise<void> {
  const of = (kind: PhaseResult['kind']) => results.filter((r) => r.kind === kind);
  const summary = (kind: PhaseResult['kind']) => {
    const rs = of(kind);
    return {
      ackedPerSec: round(median(rs.map((r) => r.acked / r.seconds)), 0),
      deliveredPerSec: round(median(rs.map((r) => r.deliveredPerSec)), 0),
      latencyP50Ms: round(median(rs.map((r) => r.latencyP50Ms ?? Number.NaN)), 2),
      latencyP99Ms: round(median(rs.map((r) => r.latencyP99Ms ?? Number.NaN)), 2),
      gatewayCpuUsPerMsg: round(median(rs.map((r) => r.gatewayCpuUsPerMsg)), 1),
    };
  };
  const a = summary('gatehouse');
  const b = summary('mosquitto');
  const out = {
    benchmark: 'throughput',
    at: new Date().toISOString(),
    machine: machineFacts(mosquitto),
    git: gitFacts(ROOT),
    settings: {
      sensors: SENSORS,
      windowPerSensor: WINDOW,
      payloadBytes: PAYLOAD,
      measureMs: MEASURE_MS,
      rounds: ROUNDS,
    },
    summary: {
      gatehouse: a,
      mosquittoBridge: b,
      gatehouseToHub: summary('gatehouse→hub'),
      ratios: {
        deliveredGatehouseOverMosquitto: round(
          ratio(a.deliveredPerSec ?? undefined, b.deliveredPerSec ?? undefined),
          2,
        ),
        cpuPerMsgGatehouseOverMosquitto: round(
          ratio(a.gatewayCpuUsPerMsg ?? undefined, b.gatewayCpuUsPerMsg ?? undefined),
          2,
        ),
        p50GatehouseOverMosquitto: round(ratio(a.latencyP50Ms ?? undefined, b.latencyP50Ms ?? undefined), 2),
      },
    },
    phases: results,
  };
  const dir = join(ROOT, 'benchmarks', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `throughput-${timestampForFile()}.json`);
  await writeFile(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`\n${JSON.stringify(out.summary, null, 2)}\nwritten ${file}\n`);
}

await main();
