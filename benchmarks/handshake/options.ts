import { parseArgs } from 'node:util';
import type { ServerName } from '../lib/servers/handle.ts';
import { SCENARIOS, type Scenario } from './scenarios.ts';

export const USAGE = `Usage: npm run bench:handshake -- [options]

Side-by-side run (default): Gatehouse, a bare Node TLS server and Mosquitto on 127.0.0.1, the same
certificates and load generator, servers alternating within each round; medians and ratios reported.
  --scenarios LIST  ${SCENARIOS.map((s) => s.name).join(',')} (default: all)
  --servers LIST    gatehouse,node,mosquitto (default; unavailable ones are skipped with a note);
                    add aedes for the naive aedes integration as a reference
  --clients N       concurrent clients, each looping connect/CONNACK/DISCONNECT (default 16)
  --procs N         load-generator processes (default 1)
  --duration S      measured seconds per server per round (default 4)
  --rounds N        rounds (default 8: the machine's speed drifts, many short rounds
                    give a steadier median of per-round ratios than a few long ones)
  --warmup S        unmeasured load on each server before its first round (default 3)
  --ramp S          unmeasured load before each measured window (default 1)
  --timeout MS      per-connect timeout (default 10000)
  --out FILE        result JSON (default benchmarks/results/handshake-<timestamp>.json)
  --no-save         do not write the result JSON
  --profile DIR     run the Node servers (gatehouse, node) under --cpu-prof; profiles land in DIR

Any broker (a deployed gateway, Mosquitto, …), one window per round:
  --target HOST:PORT --ca FILE --cert FILE[,FILE…] --key FILE[,FILE…] [--servername NAME]
  --client-id T     client id template: {cn} = certificate CN, {i} = client number (default {cn};
                    give {i} when clients outnumber certificates, or they will take over each other)
  --username T      username template ({id} = client id); default: none
  --resume          reuse TLS session tickets
  --expect accept|refuse   what the server should answer (default accept)
  --server-pid PID  a local server's pid, to report its CPU per connect and RSS`;

export interface CompareOptions {
  readonly mode: 'compare';
  readonly scenarios: readonly Scenario[];
  readonly servers: readonly ServerName[];
  readonly profileDir: string | undefined;
}

export interface ExternalOptions {
  readonly mode: 'external';
  readonly host: string;
  readonly port: number;
  readonly caFile: string;
  readonly certFiles: readonly string[];
  readonly keyFiles: readonly string[];
  readonly servername: string;
  readonly clientIdTemplate: string;
  readonly usernameTemplate: string | undefined;
  readonly resume: boolean;
  readonly expect: 'accept' | 'refuse';
  readonly serverPid: number | undefined;
}

export interface CommonOptions {
  readonly clients: number;
  readonly procs: number;
  readonly durationMs: number;
  readonly rounds: number;
  readonly warmupMs: number;
  readonly rampMs: number;
  readonly timeoutMs: number;
  /** undefined = do not save. */
  readonly out: string | undefined | 'default';
}

export type HandshakeOptions = CommonOptions & (CompareOptions | ExternalOptions);

/** A command-line mistake: the runner prints the message and exits with status 2. */
export class UsageError extends Error {}

const DEFAULT_SERVERS: readonly ServerName[] = ['gatehouse', 'node', 'mosquitto'];
/** `aedes`: the naive aedes integration, a reference run only on request. */
const ALL_SERVERS: readonly ServerName[] = [...DEFAULT_SERVERS, 'aedes'];

function number(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name}: must be a number from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

function integer(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  const n = number(raw, name, fallback, min, max);
  if (!Number.isInteger(n)) throw new UsageError(`--${name}: must be a whole number, got "${raw}"`);
  return n;
}

function list(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

export function parseHandshakeArgs(argv: readonly string[]): HandshakeOptions | 'help' {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const common: CommonOptions = {
    clients: integer(v.clients, 'clients', 16, 1, 10_000),
    procs: integer(v.procs, 'procs', 1, 1, 16),
    durationMs: number(v.duration, 'duration', 4, 0.5, 3_600) * 1000,
    rounds: integer(v.rounds, 'rounds', 8, 1, 100),
    warmupMs: number(v.warmup, 'warmup', 3, 0, 600) * 1000,
    rampMs: number(v.ramp, 'ramp', 1, 0, 600) * 1000,
    timeoutMs: integer(v.timeout, 'timeout', 10_000, 100, 120_000),
    out: v['no-save'] ? undefined : (v.out ?? 'default'),
  };
  if (v.target !== undefined) return { ...common, ...externalOptions(v) };

  for (const flag of [
    'ca',
    'cert',
    'key',
    'servername',
    'client-id',
    'username',
    'server-pid',
    'resume',
    'expect',
  ] as const) {
    if (v[flag] !== undefined) throw new UsageError(`--${flag} needs --target HOST:PORT`);
  }
  const names = list(v.scenarios);
  const scenarios =
    names.length === 0
      ? SCENARIOS
      : names.map((n) => {
          const s = SCENARIOS.find((x) => x.name === n);
          if (!s)
            throw new UsageError(
              `--scenarios: unknown scenario "${n}" (${SCENARIOS.map((x) => x.name).join(', ')})`,
            );
          return s;
        });
  const serverNames = list(v.servers);
  for (const n of serverNames) {
    if (!(ALL_SERVERS as readonly string[]).includes(n)) {
      throw new UsageError(`--servers: unknown server "${n}" (${ALL_SERVERS.join(', ')})`);
    }
  }
  return {
    ...common,
    mode: 'compare',
    scenarios,
    servers: serverNames.length === 0 ? DEFAULT_SERVERS : (serverNames as ServerName[]),
    profileDir: v.profile,
  };
}

function externalOptions(v: ReturnType<typeof parse>['values']): ExternalOptions {
  const target = v.target ?? '';
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(target);
  const port = Number(match?.[2]);
  if (!match?.[1] || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new UsageError(`--target: expected HOST:PORT, got "${target}"`);
  }
  const host = match[1].replace(/^\[|\]$/g, '');
  if (!v.ca) throw new UsageError('--target needs --ca FILE (the server certificate trust anchors)');
  const certFiles = list(v.cert);
  const keyFiles = list(v.key);
  if (certFiles.length === 0 || certFiles.length !== keyFiles.length) {
    throw new UsageError('--target needs as many --key files as --cert files (at least one)');
  }
  const expect = v.expect ?? 'accept';
  if (expect !== 'accept' && expect !== 'refuse') {
    throw new UsageError(`--expect: "accept" or "refuse", got "${expect}"`);
  }
  return {
    mode: 'external',
    host,
    port,
    caFile: v.ca,
    certFiles,
    keyFiles,
    servername: v.servername ?? host,
    clientIdTemplate: v['client-id'] ?? '{cn}',
    usernameTemplate: v.username,
    resume: v.resume ?? false,
    expect,
    serverPid:
      v['server-pid'] === undefined ? undefined : integer(v['server-pid'], 'server-pid', 0, 1, 2 ** 22),
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      scenarios: { type: 'string', multiple: true },
      servers: { type: 'string', multiple: true },
      clients: { type: 'string' },
      procs: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      ramp: { type: 'string' },
      timeout: { type: 'string' },
      out: { type: 'string' },
      'no-save': { type: 'boolean' },
      profile: { type: 'string' },
      target: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string', multiple: true },
      key: { type: 'string', multiple: true },
      servername: { type: 'string' },
      'client-id': { type: 'string' },
      username: { type: 'string' },
      resume: { type: 'boolean' },
      expect: { type: 'string' },
      'server-pid': { type: 'string' },
    },
  });
}
