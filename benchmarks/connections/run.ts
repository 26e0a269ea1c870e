/**
 * `npm run bench:connections` — server memory per idle mTLS MQTT connection: Gatehouse against a bare
 * Node TLS server and Mosquitto, fresh server processes, alternating, medians (see benchmarks/README.md).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onInterrupt } from '../lib/cleanup.ts';
import { createBenchPki } from '../lib/fixtures.ts';
import { gitFacts, machineFacts, timestampForFile } from '../lib/machine.ts';
import { openFileLimits } from '../lib/proc.ts';
import type { ServerHandle, ServerName } from '../lib/servers/handle.ts';
import { startServer, unavailableReason } from '../lib/servers/lineup.ts';
import { mosquittoVersion } from '../lib/servers/mosquitto.ts';
import { median, ratio, round } from '../lib/stats.ts';
import { createProgress, fmt, fmtRatio, renderTable } from '../lib/table.ts';
import { type IdleMeasurement, measureIdle } from './hold.ts';
import { type ConnectionsOptions, parseConnectionsArgs, USAGE, UsageError } from './options.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Descriptors beyond the connections: listeners, pipes, libraries, the IPC channel. */
const FD_MARGIN = 256;
const POOL = 16;

async function main(argv: readonly string[]): Promise<number> {
  let parsed: ConnectionsOptions | 'help';
  try {
    parsed = parseConnectionsArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench:connections: ${err.message}\n(see --help)\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const notes: string[] = [];
  // Server and load processes each hold one descriptor per connection (load: its share).
  const { hard } = openFileLimits();
  const fits = hard - FD_MARGIN;
  const options: ConnectionsOptions =
    parsed.connections > fits ? { ...parsed, connections: Math.max(1, fits) } : parsed;
  if (options.connections < parsed.connections) {
    notes.push(
      `connections lowered from ${parsed.connections} to ${options.connections}: the open-file hard limit is ${hard}`,
    );
  }
  const servers = options.servers.filter((name) => {
    const why = unavailableReason(name);
    if (why) notes.push(`${name} skipped: ${why}`);
    return !why;
  });

  const startedAt = new Date();
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-'));
  const forgetDir = onInterrupt(() => rm(dir, { recursive: true, force: true }));
  const progress = createProgress();
  const rounds = new Map<ServerName, IdleMeasurement[]>();
  try {
    const pki = await createBenchPki({ dir, serverKeyType: 'ec-p256', pool: POOL });
    for (let r = 1; r <= options.rounds; r++) {
      for (const name of servers) {
        let server: ServerHandle | undefined;
        const forget = onInterrupt(async () => server?.close());
        try {
          server = await startServer(name, {
            pki,
            devices: 'thumbprint',
            thumbprintDevices: options.connections,
            maxConnections: options.connections,
            nodeFlags: ['--expose-gc'],
          });
          const m = await measureIdle({
            server,
            pki,
            connections: options.connections,
            concurrency: options.concurrency,
            procs: options.procs,
            settleMs: options.settleMs,
            timeoutMs: options.timeoutMs,
            onProgress: (open, failed) =>
              progress.update(
                `round ${r}/${options.rounds} ${name}: ${fmt(open)} open, ${fmt(failed)} failed`,
              ),
          });
          progress.done(
            `round ${r}/${options.rounds} ${name.padEnd(9)} ${fmt(m.opened)} open in ${fmt(m.openSeconds, 1)} s, ` +
              `RSS ${fmt(m.rssBeforeBytes / 1048576, 1)} → ${fmt(m.rssAfterBytes / 1048576, 1)} MB, ` +
              `${fmt(m.rssPerConnectionBytes / 1024, 1)} KB/conn` +
              (Object.keys(m.failures).length > 0 ? `  FAILURES ${JSON.stringify(m.failures)}` : ''),
          );
          const list = rounds.get(name) ?? [];
          list.push(m);
          rounds.set(name, list);
        } catch (err) {
          progress.done();
          notes.push(`round ${r}: ${name} failed: ${(err as Error).message}`);
        } finally {
          forget();
          await server?.close();
        }
      }
    }
  } finally {
    forgetDir();
    await rm(dir, { recursive: true, force: true });
  }

  const summary = summarize(rounds);
  const rows = Object.entries(summary).map(([name, s]) => [
    name,
    fmt(s.opened),
    fmt(s.rssPerConnectionBytes / 1024, 1),
    name === 'node' ? '1.00×' : fmtRatio(ratio(s.rssPerConnectionBytes, summary.node?.rssPerConnectionBytes)),
    name === 'mosquitto'
      ? '1.00×'
      : fmtRatio(ratio(s.rssPerConnectionBytes, summary.mosquitto?.rssPerConnectionBytes)),
    fmt(s.heapPerConnectionBytes / 1024, 1),
    String(s.failures),
  ]);
  const gatehouseVsNode = ratio(
    summary.gatehouse?.rssPerConnectionBytes,
    summary.node?.rssPerConnectionBytes,
  );
  const out = [
    '',
    `Idle mTLS connections (${fmt(options.connections)} per server, medians of ${options.rounds} rounds)`,
    renderTable(['server', 'open', 'RSS KB/conn', '× node', '× mosq', 'V8 heap KB/conn', 'failures'], rows),
    '',
    `Target: memory per idle connection, gatehouse ÷ node ≤ 1.2: ${fmtRatio(gatehouseVsNode)} ${
      Number.isFinite(gatehouseVsNode) ? (gatehouseVsNode <= 1.2 ? 'met' : 'MISSED') : 'not measured'
    }`,
    ...notes.map((n) => `note: ${n}`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);

  if (options.out !== undefined) {
    const file =
      options.out === 'default'
        ? join(ROOT, 'benchmarks', 'results', `connections-${timestampForFile(startedAt)}.json`)
        : resolve(options.out);
    await mkdir(dirname(file), { recursive: true });
    const json = {
      benchmark: 'connections',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      git: gitFacts(ROOT),
      machine: machineFacts(mosquittoVersion()),
      options: { ...options, requestedConnections: parsed.connections },
      notes,
      servers: Object.fromEntries(
        Object.entries(summary).map(([name, s]) => [
          name,
          {
            median: {
              rssPerConnectionBytes: round(s.rssPerConnectionBytes, 0),
              heapPerConnectionBytes: round(s.heapPerConnectionBytes, 0),
              externalPerConnectionBytes: round(s.externalPerConnectionBytes, 0),
            },
            rounds: rounds.get(name as ServerName),
          },
        ]),
      ),
      ratios: {
        'gatehouse/node': round(gatehouseVsNode, 3),
        'gatehouse/mosquitto': round(
          ratio(summary.gatehouse?.rssPerConnectionBytes, summary.mosquitto?.rssPerConnectionBytes),
          3,
        ),
        'mosquitto/node': round(
          ratio(summary.mosquitto?.rssPerConnectionBytes, summary.node?.rssPerConnectionBytes),
          3,
        ),
      },
      targets: [
        {
          target: 'memory per idle mTLS connection, gatehouse ÷ node ≤ 1.2',
          value: round(gatehouseVsNode, 3),
          limit: 1.2,
          met: Number.isFinite(gatehouseVsNode) ? gatehouseVsNode <= 1.2 : null,
        },
      ],
    };
    await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
    process.stdout.write(`results: ${file}\n`);
  }
  const failed = [...rounds.values()].some((list) => list.some((m) => Object.keys(m.failures).length > 0));
  return failed ? 1 : 0;
}

interface IdleSummary {
  readonly opened: number;
  readonly rssPerConnectionBytes: number;
  readonly heapPerConnectionBytes: number;
  readonly externalPerConnectionBytes: number;
  readonly failures: number;
}

function summarize(rounds: Map<ServerName, IdleMeasurement[]>): Partial<Record<ServerName, IdleSummary>> {
  const out: Partial<Record<ServerName, IdleSummary>> = {};
  for (const [name, list] of rounds) {
    out[name] = {
      opened: median(list.map((m) => m.opened)),
      rssPerConnectionBytes: median(list.map((m) => m.rssPerConnectionBytes)),
      heapPerConnectionBytes: median(list.map((m) => m.heapPerConnectionBytes)),
      externalPerConnectionBytes: median(list.map((m) => m.externalPerConnectionBytes)),
      failures: list.reduce((n, m) => n + Object.values(m.failures).reduce((a, b) => a + b, 0), 0),
    };
  }
  return out;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench:connections: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
