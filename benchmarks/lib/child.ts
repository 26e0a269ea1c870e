import { type ChildProcess, spawn } from 'node:child_process';
import { openFileLimits } from './proc.ts';

/**
 * A benchmark child process (server or load generator) spoken to over Node IPC. Every message is an
 * object with a `type`; requests carry an `id` and the child answers with the same id.
 */
export interface BenchMessage {
  readonly type: string;
  readonly id?: number;
  readonly [key: string]: unknown;
}

export interface ChildHandle {
  readonly pid: number;
  readonly process: ChildProcess;
  send(message: BenchMessage): void;
  /** Sends `message` with a fresh id and resolves with the child's answer carrying that id. */
  request<T extends BenchMessage>(message: BenchMessage, timeoutMs: number): Promise<T>;
  /** Resolves with the next message of `type`. */
  next<T extends BenchMessage>(type: string, timeoutMs: number): Promise<T>;
  onMessage(listener: (message: BenchMessage) => void): void;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
  /** SIGKILL if still running; resolves when it has ended. */
  kill(): Promise<void>;
}

export interface StartChildOptions {
  /** Module to run: a .ts file, loaded through tsx. */
  readonly entry: string;
  /** Extra node flags, e.g. --expose-gc, --cpu-prof. */
  readonly nodeFlags?: readonly string[];
  /** Open-file soft limit the child needs; raised through `ulimit -n` (up to the hard limit). */
  readonly openFiles?: number;
  /** Label used in error messages. */
  readonly name: string;
}

export function startChild(options: StartChildOptions): ChildHandle {
  const nodeArgs = ['--import', 'tsx', ...(options.nodeFlags ?? []), options.entry];
  const stdio: ['ignore', 'inherit', 'inherit', 'ipc'] = ['ignore', 'inherit', 'inherit', 'ipc'];
  const limits = openFileLimits();
  const wanted = options.openFiles ?? 0;
  const child =
    wanted > limits.soft
      ? // A process may raise its own soft limit up to the hard limit; Node cannot, so a shell does it before exec.
        spawn(
          '/bin/sh',
          [
            '-c',
            `ulimit -n ${Math.min(wanted, limits.hard)} && exec "$0" "$@"`,
            process.execPath,
            ...nodeArgs,
          ],
          { stdio },
        )
      : spawn(process.execPath, nodeArgs, { stdio });
  if (child.pid === undefined) throw new Error(`${options.name}: could not start a process`);
  const pid = child.pid;

  const listeners = new Set<(m: BenchMessage) => void>();
  child.on('message', (raw) => {
    if (typeof raw !== 'object' || raw === null || typeof (raw as BenchMessage).type !== 'string') return;
    for (const l of [...listeners]) l(raw as BenchMessage);
  });
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  let nextId = 1;

  const next = <T extends BenchMessage>(
    match: (m: BenchMessage) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const done = (err: Error | undefined, m?: BenchMessage): void => {
        clearTimeout(timer);
        listeners.delete(listener);
        if (err) reject(err);
        else resolve(m as T);
      };
      const listener = (m: BenchMessage): void => {
        if (m.type === 'fatal') done(new Error(`${options.name}: ${String(m.message)}`));
        else if (match(m)) done(undefined, m);
      };
      const timer = setTimeout(
        () => done(new Error(`${options.name}: no "${what}" within ${timeoutMs} ms`)),
        timeoutMs,
      );
      listeners.add(listener);
      void exited.then((code) => done(new Error(`${options.name} exited (code ${code}) before "${what}"`)));
    });

  return {
    pid,
    process: child,
    send: (m) => {
      if (child.connected) child.send(m);
    },
    request: <T extends BenchMessage>(m: BenchMessage, timeoutMs: number): Promise<T> => {
      const id = nextId++;
      const reply = next<T>((r) => r.id === id, m.type, timeoutMs);
      child.send({ ...m, id });
      return reply;
    },
    next: (type, timeoutMs) => next((m) => m.type === type, type, timeoutMs),
    onMessage: (l) => listeners.add(l),
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** In a child: send a message to the parent (no-op when not forked with IPC). */
export function toParent(message: BenchMessage): void {
  process.send?.(message);
}

/** In a child: call `handler` for each message from the parent; a thrown error is reported as `fatal`. */
export function fromParent(handler: (message: BenchMessage) => Promise<void> | void): void {
  process.on('message', (raw) => {
    if (typeof raw !== 'object' || raw === null) return;
    Promise.resolve()
      .then(() => handler(raw as BenchMessage))
      .catch((err: unknown) => {
        toParent({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
      });
  });
  // The parent going away ends the benchmark: never linger as an orphan holding ports.
  process.on('disconnect', () => process.exit(0));
}

/**
 * In a server child: answers the runner's `gc` request — a full collection (when started with
 * --expose-gc) and the memory figures after it, so RSS per connection is read the same way for every server.
 */
export function replyGc(id: unknown): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  toParent({
    type: 'gc',
    id,
    memory: gc ? { rss, heapUsed, external, arrayBuffers } : undefined,
  } as BenchMessage);
}
