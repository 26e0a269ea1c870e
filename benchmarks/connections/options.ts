import { parseArgs } from 'node:util';
import type { ServerName } from '../lib/servers/handle.ts';

export const USAGE = `Usage: npm run bench:connections -- [options]

Holds N idle mTLS MQTT connections (after CONNACK, keep-alive 0) on Gatehouse, a bare Node TLS server
and Mosquitto, one server at a time, and reports server RSS per connection (RSS delta ÷ N, measured
after a forced GC in the Node servers).
  --connections N   idle connections per server (default 5000; lowered to fit the open-file limit)
  --servers LIST    gatehouse,node,mosquitto (default; unavailable ones are skipped with a note);
                    add aedes for the naive aedes integration as a reference
  --rounds N        rounds, servers alternating, a fresh server process each time (default 3)
  --concurrency N   connections being opened at once (default 32)
  --procs N         load-generator processes (default 1)
  --settle S        pause before each RSS reading (default 2)
  --timeout MS      per-connect timeout (default 15000)
  --out FILE        result JSON (default benchmarks/results/connections-<timestamp>.json)
  --no-save         do not write the result JSON`;

export interface ConnectionsOptions {
  readonly connections: number;
  readonly servers: readonly ServerName[];
  readonly rounds: number;
  readonly concurrency: number;
  readonly procs: number;
  readonly settleMs: number;
  readonly timeoutMs: number;
  readonly out: string | undefined | 'default';
}

export class UsageError extends Error {}

const DEFAULT_SERVERS: readonly ServerName[] = ['gatehouse', 'node', 'mosquitto'];
/** `aedes`: the naive aedes integration, a reference run only on request. */
const ALL_SERVERS: readonly ServerName[] = [...DEFAULT_SERVERS, 'aedes'];

function integer(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}: must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

export function parseConnectionsArgs(argv: readonly string[]): ConnectionsOptions | 'help' {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const servers = (values.servers ?? []).flatMap((s) => s.split(',')).filter((s) => s.length > 0);
  for (const s of servers) {
    if (!(ALL_SERVERS as readonly string[]).includes(s)) {
      throw new UsageError(`--servers: unknown server "${s}" (${ALL_SERVERS.join(', ')})`);
    }
  }
  const settle = Number(values.settle ?? 2);
  if (!Number.isFinite(settle) || settle < 0 || settle > 600) {
    throw new UsageError(`--settle: must be a number of seconds from 0 to 600, got "${values.settle}"`);
  }
  return {
    connections: integer(values.connections, 'connections', 5_000, 1, 1_000_000),
    servers: servers.length === 0 ? DEFAULT_SERVERS : (servers as ServerName[]),
    rounds: integer(values.rounds, 'rounds', 3, 1, 100),
    concurrency: integer(values.concurrency, 'concurrency', 32, 1, 1_000),
    procs: integer(values.procs, 'procs', 1, 1, 16),
    settleMs: settle * 1000,
    timeoutMs: integer(values.timeout, 'timeout', 15_000, 100, 120_000),
    out: values['no-save'] ? undefined : (values.out ?? 'default'),
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      connections: { type: 'string' },
      servers: { type: 'string', multiple: true },
      rounds: { type: 'string' },
      concurrency: { type: 'string' },
      procs: { type: 'string' },
      settle: { type: 'string' },
      timeout: { type: 'string' },
      out: { type: 'string' },
      'no-save': { type: 'boolean' },
    },
  });
}
