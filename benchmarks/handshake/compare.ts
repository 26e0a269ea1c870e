import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyType } from '../../src/pki/index.ts';
import { onInterrupt } from '../lib/cleanup.ts';
import { type BenchPki, createBenchPki } from '../lib/fixtures.ts';
import { type Measurement, measureRound } from '../lib/measure.ts';
import type { ProfileTarget } from '../lib/profile-summary.ts';
import type { ServerHandle, ServerName } from '../lib/servers/handle.ts';
import { startServer, unavailableReason } from '../lib/servers/lineup.ts';
import { createProgress, fmt } from '../lib/table.ts';
import type { CommonOptions, CompareOptions } from './options.ts';
import type { Scenario } from './scenarios.ts';
import { pairRatios, type ScenarioResult, summarizeServer } from './summary.ts';

/**
 * The side-by-side run: for each scenario, every available server is started with the same
 * certificates, warmed up, then measured in alternation (A B C, A B C, …) for the given rounds.
 */

export interface CompareRun {
  readonly results: ScenarioResult[];
  readonly notes: string[];
  /** CPU profiles of the Node servers (--profile), one directory per scenario and server. */
  readonly profiles: ProfileTarget[];
}

export async function runCompare(options: CommonOptions & CompareOptions): Promise<CompareRun> {
  const notes: string[] = [];
  const servers = options.servers.filter((name) => {
    const why = unavailableReason(name);
    if (why) notes.push(`${name} skipped: ${why}`);
    return !why;
  });
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-'));
  const forgetDir = onInterrupt(() => rm(dir, { recursive: true, force: true }));
  const pkis = new Map<KeyType, BenchPki>();
  const results: ScenarioResult[] = [];
  const profiles: ProfileTarget[] = [];
  try {
    for (const scenario of options.scenarios) {
      let pki = pkis.get(scenario.serverKeyType);
      if (!pki) {
        pki = await createBenchPki({
          dir: join(dir, scenario.serverKeyType),
          serverKeyType: scenario.serverKeyType,
          pool: options.clients,
        });
        pkis.set(scenario.serverKeyType, pki);
      }
      results.push(await runScenario(scenario, pki, servers, options, notes, profiles));
    }
  } finally {
    forgetDir();
    await rm(dir, { recursive: true, force: true });
  }
  return { results, notes, profiles };
}

async function runScenario(
  scenario: Scenario,
  pki: BenchPki,
  names: readonly ServerName[],
  options: CommonOptions & CompareOptions,
  notes: string[],
  profiles: ProfileTarget[],
): Promise<ScenarioResult> {
  const progress = createProgress();
  const running: ServerHandle[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(running.splice(0).map((s) => s.close()));
  };
  const forget = onInterrupt(closeAll);
  const rounds = new Map<ServerName, Measurement[]>();
  const profiled = new Map<ServerName, string>();
  try {
    for (const name of names) {
      // One directory per scenario and server: Node names each thread's profile (CPU.<date>.<pid>.<thread>…).
      const profileDir =
        name !== 'mosquitto' && name !== 'external' && options.profileDir !== undefined
          ? join(options.profileDir, `${scenario.name}-${name}`)
          : undefined;
      try {
        running.push(
          await startServer(name, {
            pki,
            devices: scenario.devices,
            thumbprintDevices: options.clients,
            maxConnections: options.clients * options.procs + 64,
            ...(profileDir ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}),
          }),
        );
        if (profileDir) profiled.set(name, profileDir);
      } catch (err) {
        notes.push(`${scenario.name}: ${name} did not start: ${(err as Error).message}`);
      }
    }
    const identities = pki.identities(scenario.devices, options.clients);
    const load = {
      servername: 'localhost',
      caPem: pki.rootPem,
      identities,
      username: undefined,
      resume: scenario.resume,
      expect: scenario.expect,
      timeoutMs: options.timeoutMs,
      keepAliveSecs: 0,
      mode: 'loop' as const,
      holdConcurrency: 1,
      maxRunMs: options.warmupMs + options.rampMs + options.durationMs + options.timeoutMs + 120_000,
    };
    const once = (server: ServerHandle, label: string, rampMs: number, durationMs: number) =>
      measureRound({
        server,
        load,
        procs: options.procs,
        rampMs,
        durationMs,
        onProgress: (ms, done, failed) =>
          progress.update(
            `${scenario.name} ${label} ${server.name}: ${fmt(ms / 1000, 0)}/${fmt(durationMs / 1000, 0)} s, ${fmt(done)} done, ${fmt(failed)} failed, ${fmt((done * 1000) / Math.max(1, ms))}/s`,
          ),
      });
    if (options.warmupMs > 0) {
      for (const server of running) await once(server, 'warm-up', 0, options.warmupMs);
    }
    for (let round = 1; round <= options.rounds; round++) {
      for (const server of running) {
        const m = await once(server, `round ${round}/${options.rounds}`, options.rampMs, options.durationMs);
        progress.done(
          `${scenario.name} round ${round}/${options.rounds} ${server.name.padEnd(9)} ${fmt(m.connectsPerSec).padStart(6)} conn/s  ` +
            `server ${fmt(m.serverCpuPerConnectUs).padStart(5)} µs/conn  p50 ${fmt(m.p50Ms, 2)} ms  p99 ${fmt(m.p99Ms, 2)} ms` +
            (Object.keys(m.failures).length > 0 ? `  FAILURES ${JSON.stringify(m.failures)}` : ''),
        );
        const list = rounds.get(server.name) ?? [];
        list.push(m);
        rounds.set(server.name, list);
      }
    }
    for (const server of running) {
      const path = profiled.get(server.name);
      // Connections served over the profile's whole life, so its times can be put per connection.
      if (path)
        profiles.push({ path, label: `${server.name}, ${scenario.name}`, served: await server.served() });
    }
  } finally {
    forget();
    await closeAll();
  }
  const summaries: ScenarioResult['servers'] = {};
  for (const [name, list] of rounds) summaries[name] = summarizeServer(list);
  return { scenario, servers: summaries, ratios: pairRatios(summaries) };
}
