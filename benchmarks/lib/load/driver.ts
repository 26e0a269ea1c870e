import { fileURLToPath } from 'node:url';
import { type BenchMessage, type ChildHandle, startChild } from '../child.ts';
import { addCounts } from '../stats.ts';
import type { LoadConfig, ProgressCounts, WindowCounts } from './protocol.ts';

/**
 * The driver's side of the load generator: one or more worker processes sharing the identities
 * (client i goes to process i mod procs), started, marked and stopped together.
 */

const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

export interface LoadGenerator {
  readonly pids: readonly number[];
  /** Hold mode: what opening the connections produced. Loop mode: empty counts. */
  readonly opened: WindowCounts;
  /** Starts the measured window in every process. */
  mark(): Promise<void>;
  /** Ends the window and returns the merged counts once in-flight attempts have drained. */
  stop(): Promise<WindowCounts>;
  /** Hold mode: DISCONNECTs every held connection. */
  release(): Promise<void>;
  /** Latest progress summed over the processes (counts since the last mark). */
  progress(): ProgressCounts;
  close(): Promise<void>;
}

export interface StartLoadOptions {
  readonly config: LoadConfig;
  readonly procs: number;
  /** Open files each process needs (hold mode: its share of connections + margin). */
  readonly openFiles?: number;
}

export async function startLoad(options: StartLoadOptions): Promise<LoadGenerator> {
  const { config } = options;
  const procs = Math.max(1, Math.min(options.procs, config.identities.length));
  const children: ChildHandle[] = [];
  const latest = new Map<number, ProgressCounts>();
  const startTimeout = config.mode === 'hold' ? config.maxRunMs : 60_000;
  try {
    for (let k = 0; k < procs; k++) {
      const child = startChild({
        entry: WORKER,
        name: `load generator ${k + 1}/${procs}`,
        ...(options.openFiles ? { openFiles: options.openFiles } : {}),
      });
      children.push(child);
      child.onMessage((m) => {
        if (m.type === 'progress') latest.set(child.pid, m as unknown as ProgressCounts);
      });
    }
    await Promise.all(children.map((c) => c.next('loaded', 60_000)));
    const started = await Promise.all(
      children.map((c, k) =>
        c.request<BenchMessage & { window?: WindowCounts }>(
          {
            type: 'start',
            config: { ...config, identities: config.identities.filter((_, i) => i % procs === k) },
          },
          startTimeout,
        ),
      ),
    );
    const opened = mergeWindows(started.map((s) => s.window ?? emptyWindow()));
    const closeAll = async (): Promise<void> => {
      await Promise.all(children.map((c) => c.kill()));
    };
    return {
      pids: children.map((c) => c.pid),
      opened,
      mark: async () => {
        latest.clear();
        await Promise.all(children.map((c) => c.request({ type: 'mark' }, 10_000)));
      },
      stop: async () => {
        const results = await Promise.all(
          children.map((c) =>
            c.request<BenchMessage & { window: WindowCounts }>({ type: 'stop' }, config.timeoutMs + 30_000),
          ),
        );
        return mergeWindows(results.map((r) => r.window));
      },
      release: async () => {
        await Promise.all(children.map((c) => c.request({ type: 'release' }, config.timeoutMs + 60_000)));
      },
      progress: () => {
        let completed = 0;
        let failed = 0;
        let open = 0;
        for (const p of latest.values()) {
          completed += p.completed;
          failed += p.failed;
          open += p.open;
        }
        return { completed, failed, open };
      },
      close: closeAll,
    };
  } catch (err) {
    await Promise.all(children.map((c) => c.kill()));
    throw err;
  }
}

export function emptyWindow(): WindowCounts {
  return {
    elapsedMs: 0,
    completed: 0,
    outcomes: {},
    failures: {},
    latenciesMs: [],
    resumed: 0,
    clientCpuMicros: 0,
  };
}

/** Sums counts over processes; the window lasts as long as the longest. */
export function mergeWindows(windows: readonly WindowCounts[]): WindowCounts {
  const outcomes: Record<string, number> = {};
  const failures: Record<string, number> = {};
  let elapsedMs = 0;
  let completed = 0;
  let resumed = 0;
  let clientCpuMicros = 0;
  const latenciesMs: number[] = [];
  for (const w of windows) {
    elapsedMs = Math.max(elapsedMs, w.elapsedMs);
    completed += w.completed;
    resumed += w.resumed;
    clientCpuMicros += w.clientCpuMicros;
    addCounts(outcomes, w.outcomes);
    addCounts(failures, w.failures);
    for (const l of w.latenciesMs) latenciesMs.push(l);
  }
  return { elapsedMs, completed, outcomes, failures, latenciesMs, resumed, clientCpuMicros };
}
