import { readFile } from 'node:fs/promises';
import { parseCertificatePem } from '../../src/pki/index.ts';
import type { BenchIdentity } from '../lib/fixtures.ts';
import { type Measurement, measureRound } from '../lib/measure.ts';
import type { ServerHandle } from '../lib/servers/handle.ts';
import { createProgress, fmt } from '../lib/table.ts';
import type { CommonOptions, ExternalOptions } from './options.ts';
import type { Scenario } from './scenarios.ts';
import { type ScenarioResult, summarizeServer } from './summary.ts';

/** Load-tests any broker at HOST:PORT with the given certificates (a deployed gateway, Mosquitto, …). */
export async function runExternal(
  options: CommonOptions & ExternalOptions,
): Promise<{ results: ScenarioResult[]; notes: string[] }> {
  const notes: string[] = [];
  const caPem = await readFile(options.caFile, 'utf8');
  const creds = await Promise.all(
    options.certFiles.map(async (certFile, i) => {
      const certPem = await readFile(certFile, 'utf8');
      const keyPem = await readFile(options.keyFiles[i] as string, 'utf8');
      const cn = parseCertificatePem(certPem, certFile).subjectCn ?? '';
      return { certPem, keyPem, cn };
    }),
  );
  const identities: BenchIdentity[] = Array.from({ length: options.clients }, (_, i) => {
    const cred = creds[i % creds.length] as (typeof creds)[number];
    const clientId = options.clientIdTemplate.replaceAll('{cn}', cred.cn).replaceAll('{i}', String(i));
    return { clientId, certPem: cred.certPem, keyPem: cred.keyPem };
  });
  const distinct = new Set(identities.map((c) => c.clientId)).size;
  if (distinct < identities.length) {
    notes.push(
      `${identities.length} clients share ${distinct} client ids: a broker disconnects the older session ` +
        'on a duplicate id (use --client-id with {i}, more certificates, or fewer --clients)',
    );
  }
  const server: ServerHandle = {
    name: 'external',
    host: options.host,
    port: options.port,
    rootPid: options.serverPid,
    gc: async () => undefined,
    served: async () => undefined,
    close: async () => {},
  };
  const scenario: Scenario = {
    name: 'external',
    description: `${options.host}:${options.port}${options.resume ? ', session resumption' : ''}, expect ${options.expect}`,
    devices: 'thumbprint',
    serverKeyType: 'ec-p256',
    resume: options.resume,
    expect: options.expect,
  };
  const load = {
    servername: options.servername,
    caPem,
    identities,
    username: options.usernameTemplate,
    resume: options.resume,
    expect: options.expect,
    timeoutMs: options.timeoutMs,
    keepAliveSecs: 0,
    mode: 'loop' as const,
    holdConcurrency: 1,
    maxRunMs: options.warmupMs + options.rampMs + options.durationMs + options.timeoutMs + 120_000,
  };
  const progress = createProgress();
  const rounds: Measurement[] = [];
  for (let round = 0; round <= options.rounds; round++) {
    // Round 0 is the warm-up and is not kept.
    if (round === 0 && options.warmupMs === 0) continue;
    const durationMs = round === 0 ? options.warmupMs : options.durationMs;
    const m = await measureRound({
      server,
      load,
      procs: options.procs,
      rampMs: round === 0 ? 0 : options.rampMs,
      durationMs,
      onProgress: (ms, done, failed) =>
        progress.update(
          `${round === 0 ? 'warm-up' : `round ${round}/${options.rounds}`}: ${fmt(ms / 1000)} s, ${fmt(done)} done, ${fmt(failed)} failed`,
        ),
    });
    progress.done(
      round === 0
        ? undefined
        : `round ${round}/${options.rounds}: ${fmt(m.connectsPerSec)} conn/s, p50 ${fmt(m.p50Ms, 2)} ms, p99 ${fmt(m.p99Ms, 2)} ms` +
            (Object.keys(m.failures).length > 0 ? `, FAILURES ${JSON.stringify(m.failures)}` : ''),
    );
    if (round > 0) rounds.push(m);
  }
  return { results: [{ scenario, servers: { external: summarizeServer(rounds) }, ratios: {} }], notes };
}
