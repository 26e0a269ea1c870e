/**
 * `npm run bench:handshake` — TLS handshake + MQTT CONNECT/CONNACK benchmark of Gatehouse against a
 * bare Node TLS server and Mosquitto in one run (see benchmarks/README.md), or of any broker (--target).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitFacts, machineFacts, timestampForFile } from '../lib/machine.ts';
import { summarizeProfiles } from '../lib/profile-summary.ts';
import { mosquittoVersion } from '../lib/servers/mosquitto.ts';
import { round } from '../lib/stats.ts';
import { fmtRatio, renderTable } from '../lib/table.ts';
import { runCompare } from './compare.ts';
import { runExternal } from './external.ts';
import { type HandshakeOptions, parseHandshakeArgs, USAGE, UsageError } from './options.ts';
import {
  checkTargets,
  renderScenario,
  resumptionGains,
  type ScenarioResult,
  scenarioJson,
} from './summary.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

async function main(argv: readonly string[]): Promise<number> {
  let options: HandshakeOptions | 'help';
  try {
    options = parseHandshakeArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench:handshake: ${err.message}\n(see --help)\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const startedAt = new Date();
  const run =
    options.mode === 'compare'
      ? await runCompare(options)
      : { ...(await runExternal(options)), profiles: [] };
  const { results, notes } = run;

  const out: string[] = [''];
  for (const r of results) out.push(renderScenario(r), '');
  const gains = resumptionGains(results);
  if (Object.keys(gains).length > 0) {
    out.push(
      'Session resumption vs full handshake (medians):',
      renderTable(
        ['server', 'conn/s resumed ÷ full', 'server CPU/conn resumed ÷ full'],
        Object.entries(gains).map(([name, g]) => [
          name,
          fmtRatio(g.connectsPerSec),
          fmtRatio(g.serverCpuPerConnect),
        ]),
      ),
      '',
    );
  }
  const targets = options.mode === 'compare' ? checkTargets(results) : [];
  if (targets.length > 0) {
    out.push(
      'Targets:',
      renderTable(
        ['target', 'measured', 'rounds (lowest–highest)', 'result'],
        targets.map((t) => [
          t.target,
          fmtRatio(t.value),
          t.range ? `${fmtRatio(t.range[0])}–${fmtRatio(t.range[1])}` : '',
          t.met === null ? 'not measured' : t.met ? 'met' : 'MISSED',
        ]),
      ),
      '',
    );
  }
  const profileSummaries = run.profiles.length > 0 ? await summarizeProfiles(run.profiles) : [];
  for (const p of profileSummaries) out.push(p.text, '');
  for (const n of notes) out.push(`note: ${n}`);
  process.stdout.write(`${out.join('\n')}\n`);

  if (options.out !== undefined) {
    const file =
      options.out === 'default'
        ? join(ROOT, 'benchmarks', 'results', `handshake-${timestampForFile(startedAt)}.json`)
        : resolve(options.out);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(
      file,
      `${JSON.stringify(resultJson(options, startedAt, results, notes, targets), null, 2)}\n`,
    );
    process.stdout.write(`results: ${file}\n`);
  }
  const failed = results.some((r) =>
    Object.values(r.servers).some((s) => s !== undefined && Object.keys(s.failures).length > 0),
  );
  return failed ? 1 : 0;
}

function resultJson(
  options: HandshakeOptions,
  startedAt: Date,
  results: readonly ScenarioResult[],
  notes: readonly string[],
  targets: ReturnType<typeof checkTargets>,
): unknown {
  const { mode } = options;
  return {
    benchmark: 'handshake',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    git: gitFacts(ROOT),
    machine: machineFacts(mosquittoVersion()),
    options: {
      mode,
      clients: options.clients,
      procs: options.procs,
      durationSecs: options.durationMs / 1000,
      rounds: options.rounds,
      warmupSecs: options.warmupMs / 1000,
      rampSecs: options.rampMs / 1000,
      timeoutMs: options.timeoutMs,
      ...(options.mode === 'external'
        ? { target: `${options.host}:${options.port}`, resume: options.resume, expect: options.expect }
        : { servers: options.servers }),
    },
    notes,
    scenarios: results.map(scenarioJson),
    resumption: Object.fromEntries(
      Object.entries(resumptionGains(results)).map(([k, g]) => [
        k,
        { connectsPerSec: round(g.connectsPerSec, 3), serverCpuPerConnect: round(g.serverCpuPerConnect, 3) },
      ]),
    ),
    targets: targets.map((t) => ({
      ...t,
      value: round(t.value, 3),
      range: t.range?.map((v) => round(v, 3)),
    })),
  };
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench:handshake: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
