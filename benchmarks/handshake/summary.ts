import type { Measurement } from '../lib/measure.ts';
import type { ServerName } from '../lib/servers/handle.ts';
import { addCounts, median, ratio, round } from '../lib/stats.ts';
import { fmt, fmtRatio, renderTable } from '../lib/table.ts';
import type { Scenario } from './scenarios.ts';

/** Medians, paired ratios and target checks over the rounds of a handshake run. */

export interface ServerSummary {
  readonly rounds: readonly Measurement[];
  readonly median: {
    readonly connectsPerSec: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly serverCpuPerConnectUs: number;
    readonly serverCpuCores: number;
    readonly serverRssBytes: number;
    readonly clientCpuPerConnectUs: number;
  };
  readonly completed: number;
  readonly outcomes: Record<string, number>;
  readonly failures: Record<string, number>;
  readonly resumed: number;
}

export interface PairRatio {
  /** Median over rounds of (a ÷ b) within the same round: servers alternate, so drift cancels. */
  readonly serverCpuPerConnect: number;
  /** Each round's server-CPU ratio, in round order: the spread says how far the median can be trusted. */
  readonly serverCpuPerConnectRounds: readonly number[];
  readonly connectsPerSec: number;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly servers: Partial<Record<ServerName, ServerSummary>>;
  readonly ratios: Record<string, PairRatio>;
}

export const RATIO_PAIRS: ReadonlyArray<readonly [ServerName, ServerName]> = [
  ['gatehouse', 'node'],
  ['gatehouse', 'mosquitto'],
  ['mosquitto', 'node'],
  ['gatehouse', 'aedes'],
  ['aedes', 'node'],
];

export function summarizeServer(rounds: readonly Measurement[]): ServerSummary {
  const pick = (f: (m: Measurement) => number): number => median(rounds.map(f));
  const outcomes: Record<string, number> = {};
  const failures: Record<string, number> = {};
  for (const r of rounds) {
    addCounts(outcomes, r.outcomes);
    addCounts(failures, r.failures);
  }
  return {
    rounds,
    median: {
      connectsPerSec: pick((m) => m.connectsPerSec),
      p50Ms: pick((m) => m.p50Ms),
      p99Ms: pick((m) => m.p99Ms),
      serverCpuPerConnectUs: pick((m) => m.serverCpuPerConnectUs),
      serverCpuCores: pick((m) => m.serverCpuCores),
      serverRssBytes: pick((m) => m.serverRssBytes),
      clientCpuPerConnectUs: pick((m) => m.clientCpuPerConnectUs),
    },
    completed: rounds.reduce((n, r) => n + r.completed, 0),
    outcomes,
    failures,
    resumed: rounds.reduce((n, r) => n + r.resumed, 0),
  };
}

export function pairRatios(servers: Partial<Record<ServerName, ServerSummary>>): Record<string, PairRatio> {
  const out: Record<string, PairRatio> = {};
  for (const [a, b] of RATIO_PAIRS) {
    const ra = servers[a]?.rounds;
    const rb = servers[b]?.rounds;
    if (!ra || !rb) continue;
    const n = Math.min(ra.length, rb.length);
    const rounds = (f: (m: Measurement) => number): number[] =>
      Array.from({ length: n }, (_, i) => ratio(f(ra[i] as Measurement), f(rb[i] as Measurement)));
    const cpu = rounds((m) => m.serverCpuPerConnectUs);
    out[`${a}/${b}`] = {
      serverCpuPerConnect: median(cpu),
      serverCpuPerConnectRounds: cpu,
      connectsPerSec: median(rounds((m) => m.connectsPerSec)),
    };
  }
  return out;
}

export interface TargetCheck {
  readonly target: string;
  readonly value: number;
  readonly limit: number;
  /** Lowest and highest per-round value behind `value`, when it is a median over rounds. */
  readonly range?: readonly [number, number] | undefined;
  /** true = met; false = missed; null = could not be measured in this run. */
  readonly met: boolean | null;
}

/** The issue's targets that a handshake run can check. */
export function checkTargets(results: readonly ScenarioResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const atMost = (target: string, pair: PairRatio | undefined, limit: number): void => {
    const v = pair?.serverCpuPerConnect ?? Number.NaN;
    const per = pair?.serverCpuPerConnectRounds.filter(Number.isFinite) ?? [];
    const range = per.length > 1 ? ([Math.min(...per), Math.max(...per)] as const) : undefined;
    checks.push({ target, value: v, limit, range, met: Number.isFinite(v) ? v <= limit : null });
  };
  for (const r of results) {
    if (r.scenario.resume || r.scenario.expect !== 'accept') continue;
    const name = r.scenario.name;
    atMost(`${name}: server CPU/connect, gatehouse ÷ node ≤ 1.15`, r.ratios['gatehouse/node'], 1.15);
    atMost(
      `${name}: server CPU/connect, gatehouse ÷ mosquitto ≤ 1.25`,
      r.ratios['gatehouse/mosquitto'],
      1.25,
    );
  }
  const full = results.find((r) => r.scenario.name === 'thumbprint');
  const resumed = results.find((r) => r.scenario.name === 'resumption');
  if (full && resumed) {
    const v = ratio(
      resumed.servers.gatehouse?.median.connectsPerSec,
      full.servers.gatehouse?.median.connectsPerSec,
    );
    checks.push({
      target: 'resumption: gatehouse connects/s, resumed ÷ full ≥ 1.8',
      value: v,
      limit: 1.8,
      met: Number.isFinite(v) ? v >= 1.8 : null,
    });
  }
  return checks;
}

/** Resumed vs full handshake per server: connect rate and server CPU per connect. */
export function resumptionGains(
  results: readonly ScenarioResult[],
): Partial<Record<ServerName, { connectsPerSec: number; serverCpuPerConnect: number }>> {
  const full = results.find((r) => r.scenario.name === 'thumbprint');
  const resumed = results.find((r) => r.scenario.name === 'resumption');
  const out: Partial<Record<ServerName, { connectsPerSec: number; serverCpuPerConnect: number }>> = {};
  if (!full || !resumed) return out;
  for (const name of Object.keys(full.servers) as ServerName[]) {
    const f = full.servers[name]?.median;
    const r = resumed.servers[name]?.median;
    if (!f || !r) continue;
    out[name] = {
      connectsPerSec: ratio(r.connectsPerSec, f.connectsPerSec),
      serverCpuPerConnect: ratio(r.serverCpuPerConnectUs, f.serverCpuPerConnectUs),
    };
  }
  return out;
}

export function renderScenario(r: ScenarioResult): string {
  // The aedes reference column appears only when that server ran.
  const withAedes = r.servers.aedes !== undefined;
  const versus = (name: ServerName, base: ServerName): string =>
    name === base ? '1.00×' : fmtRatio(r.ratios[`${name}/${base}`]?.serverCpuPerConnect);
  const rows = (Object.entries(r.servers) as [ServerName, ServerSummary][]).map(([name, s]) => {
    const m = s.median;
    const failures = Object.values(s.failures).reduce((a, b) => a + b, 0);
    return [
      name,
      fmt(m.connectsPerSec),
      fmt(m.p50Ms, 2),
      fmt(m.p99Ms, 2),
      fmt(m.serverCpuPerConnectUs),
      versus(name, 'node'),
      versus(name, 'mosquitto'),
      ...(withAedes ? [versus(name, 'aedes')] : []),
      fmt(m.serverCpuCores, 2),
      fmt(m.serverRssBytes / 1048576, 1),
      fmt(m.clientCpuPerConnectUs),
      r.scenario.resume ? `${fmt((100 * s.resumed) / Math.max(1, s.completed))}%` : '',
      String(failures),
    ];
  });
  const header = [
    'server',
    'conn/s',
    'p50 ms',
    'p99 ms',
    'srv CPU µs/conn',
    '× node',
    '× mosq',
    ...(withAedes ? ['× aedes'] : []),
    'srv cores',
    'srv RSS MB',
    'client µs/conn',
    'resumed',
    'failures',
  ];
  const outcomeText = (Object.entries(r.servers) as [ServerName, ServerSummary][])
    .map(([name, s]) => {
      const fails = Object.entries(s.failures).map(([k, n]) => `${k}=${n}`);
      const outs = Object.entries(s.outcomes).map(([k, n]) => `${k}=${n}`);
      return `  ${name}: ${outs.join(' ')}${fails.length > 0 ? `; FAILURES ${fails.join(' ')}` : ''}`;
    })
    .join('\n');
  return `${r.scenario.name} — ${r.scenario.description}\n${renderTable(header, rows)}\noutcomes (all rounds):\n${outcomeText}`;
}

/** JSON form of a scenario result (numbers rounded, NaN → null). */
export function scenarioJson(r: ScenarioResult): unknown {
  const servers: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(r.servers) as [ServerName, ServerSummary][]) {
    servers[name] = {
      median: roundAll(s.median),
      completed: s.completed,
      resumed: s.resumed,
      outcomes: s.outcomes,
      failures: s.failures,
      rounds: s.rounds.map((m) => roundAll(m)),
    };
  }
  const ratios: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.ratios)) ratios[k] = roundAll(v, 3);
  return { ...r.scenario, servers, ratios };
}

export function roundAll<T extends object>(o: T, digits = 1): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    out[k] =
      typeof v === 'number'
        ? round(v, digits)
        : Array.isArray(v)
          ? v.map((x: unknown) => (typeof x === 'number' ? round(x, digits) : x))
          : v;
  }
  return out;
}
