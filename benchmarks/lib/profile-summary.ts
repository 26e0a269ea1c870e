import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTable } from './table.ts';

/**
 * Reads V8 .cpuprofile files (node --cpu-prof) and says where the sampled time went: by area (native
 * "(program)", GC, Node internals, each npm package, Gatehouse's src/) and by function, self time.
 * Most handshake work is OpenSSL, which shows up as "(program)"; the rest is what JavaScript adds.
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Profiles to summarize: a .cpuprofile file, or a directory of them (main-thread files only). */
export interface ProfileTarget {
  readonly path: string;
  readonly label?: string;
  /** Connections the server completed over the profile's life: adds µs-per-connection columns. */
  readonly served?: number | undefined;
}

export interface ProfileSummary {
  readonly file: string;
  readonly sampledMs: number;
  readonly busyMs: number;
  /** Self time by area, ms, busiest first. */
  readonly areas: ReadonlyArray<readonly [string, number]>;
  /**
   * Self time charged to the nearest caller outside Node's internals, ms: shows which package or
   * Gatehouse module made Node do the work (e.g. aedes' stream pipelines). Stacks that are Node
   * internals all the way up (the TLS machinery itself) stay "node internals".
   */
  readonly callers: ReadonlyArray<readonly [string, number]>;
  /** Self time by function, ms, busiest first (top 25). */
  readonly functions: ReadonlyArray<readonly [string, number]>;
  readonly text: string;
}

function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') {
      return functionName;
    }
    return '(native/builtin)';
  }
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  const src = /\/(src|benchmarks)\/([^/]+)/.exec(url);
  if (src?.[1] === 'src') return `gatehouse src/${src[2]}`;
  if (src?.[1] === 'benchmarks') return 'benchmark harness';
  return 'other';
}

function frameName(frame: CallFrame): string {
  const where = frame.url
    ? frame.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|src)\//, '$1/')
    : '';
  return `${frame.functionName || '(anonymous)'}${where ? ` ${where}:${frame.lineNumber + 1}` : ''}`;
}

export function summarizeProfile(
  file: string,
  profile: CpuProfile,
  target: ProfileTarget = { path: file },
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n] as const));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const callerArea = (start: ProfileNode, area: string): string => {
    if (area !== 'node internals' && area !== '(native/builtin)') return area;
    // Bounded by the profile's depth: each step goes to a distinct parent.
    for (
      let id = parent.get(start.id), hops = 0;
      id !== undefined && hops < 10_000;
      id = parent.get(id), hops++
    ) {
      const up = byId.get(id);
      if (!up) break;
      const a = areaOf(up.callFrame);
      if (a !== 'node internals' && a !== '(native/builtin)') return a;
    }
    return area;
  };
  const areas = new Map<string, number>();
  const callers = new Map<string, number>();
  const functions = new Map<string, number>();
  let sampledUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const us = Math.max(0, profile.timeDeltas[i] ?? 0);
    sampledUs += us;
    if (!node) return;
    const area = areaOf(node.callFrame);
    if (area === '(idle)') {
      idleUs += us;
      return;
    }
    areas.set(area, (areas.get(area) ?? 0) + us);
    const caller = callerArea(node, area);
    callers.set(caller, (callers.get(caller) ?? 0) + us);
    const name = frameName(node.callFrame);
    functions.set(name, (functions.get(name) ?? 0) + us);
  });
  const busyUs = sampledUs - idleUs;
  const sorted = (m: Map<string, number>): [string, number][] =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / 1000]);
  const areaList = sorted(areas);
  const callerList = sorted(callers);
  const functionList = sorted(functions).slice(0, 25);
  const pct = (ms: number): string => `${((100 * ms * 1000) / Math.max(1, busyUs)).toFixed(1)}%`;
  const served = target.served !== undefined && target.served > 0 ? target.served : undefined;
  const perConn = (ms: number): string => (served ? ((ms * 1000) / served).toFixed(1) : '—');
  const table = (title: string, rows: ReadonlyArray<readonly [string, number]>): string =>
    renderTable(
      [title, 'ms', '% busy', 'µs/conn'],
      rows.map(([k, v]) => [k, v.toFixed(0), pct(v), perConn(v)]),
    );
  const text = [
    `CPU profile${target.label ? ` (${target.label})` : ''} ${basename(file)}: ` +
      `${(sampledUs / 1e6).toFixed(1)} s sampled, ${(busyUs / 1e6).toFixed(1)} s busy in JavaScript/GC` +
      (served ? `; ${served} connections served, ${perConn(busyUs / 1000)} µs/conn busy` : ''),
    table('area (self time)', areaList.slice(0, 15)),
    table('caller area (Node internals charged to their caller)', callerList.slice(0, 15)),
    table('function (self time)', functionList),
  ].join('\n');
  return {
    file,
    sampledMs: sampledUs / 1000,
    busyMs: busyUs / 1000,
    areas: areaList,
    callers: callerList,
    functions: functionList,
    text,
  };
}

/**
 * Summarizes profiles; a directory stands for the main-thread profiles in it (thread 0 in Node's
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile names; tsx's loader thread is left out).
 */
export async function summarizeProfiles(targets: readonly ProfileTarget[]): Promise<ProfileSummary[]> {
  const files: Array<{ file: string; target: ProfileTarget }> = [];
  for (const target of targets) {
    try {
      if ((await stat(target.path)).isDirectory()) {
        const names = (await readdir(target.path)).filter((n) => /\.\d+\.0\.\d+\.cpuprofile$/.test(n));
        files.push(...names.map((n) => ({ file: join(target.path, n), target })));
      } else {
        files.push({ file: target.path, target });
      }
    } catch (err) {
      process.stderr.write(`profile ${target.path}: ${(err as Error).message}\n`);
    }
  }
  const out: ProfileSummary[] = [];
  for (const { file, target } of files) {
    try {
      out.push(summarizeProfile(file, JSON.parse(await readFile(file, 'utf8')) as CpuProfile, target));
    } catch (err) {
      process.stderr.write(`profile ${file}: ${(err as Error).message}\n`);
    }
  }
  return out;
}

// `node --import tsx benchmarks/lib/profile-summary.ts FILE…` prints the summary of existing profiles.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    process.stderr.write('usage: node --import tsx benchmarks/lib/profile-summary.ts FILE.cpuprofile…\n');
    process.exit(2);
  }
  for (const s of await summarizeProfiles(files.map((path) => ({ path }))))
    process.stdout.write(`${s.text}\n\n`);
}
