import { fileURLToPath } from 'node:url';
import { type BenchMessage, startChild } from '../child.ts';
import type { ServerHandle, ServerMemory } from './handle.ts';
import type { BareServerInit, GatehouseServerInit } from './protocol.ts';

/** Starts a Node server child (the bare baseline or Gatehouse) and waits until it listens. */

const ENTRIES = {
  node: fileURLToPath(new URL('./bare-node-server.ts', import.meta.url)),
  gatehouse: fileURLToPath(new URL('./gatehouse-server.ts', import.meta.url)),
  aedes: fileURLToPath(new URL('./aedes-server.ts', import.meta.url)),
} as const;

export interface NodeServerOptions {
  /** Extra node flags: --expose-gc for memory runs, --cpu-prof … for profiles. */
  readonly nodeFlags?: readonly string[];
  readonly openFiles?: number;
  readonly startTimeoutMs?: number;
}

export async function startNodeServer(
  kind: 'node' | 'aedes',
  init: BareServerInit,
  options?: NodeServerOptions,
): Promise<ServerHandle>;
export async function startNodeServer(
  kind: 'gatehouse',
  init: GatehouseServerInit,
  options?: NodeServerOptions,
): Promise<ServerHandle>;
export async function startNodeServer(
  kind: 'node' | 'aedes' | 'gatehouse',
  init: BareServerInit | GatehouseServerInit,
  options: NodeServerOptions = {},
): Promise<ServerHandle> {
  const child = startChild({
    entry: ENTRIES[kind],
    name: `${kind} server`,
    ...(options.nodeFlags ? { nodeFlags: options.nodeFlags } : {}),
    ...(options.openFiles ? { openFiles: options.openFiles } : {}),
  });
  const timeout = options.startTimeoutMs ?? 60_000;
  try {
    await child.next('loaded', timeout);
    const ready = await child.request<BenchMessage & { port: number }>({ type: 'init', init }, timeout);
    return {
      name: kind,
      host: init.host,
      port: ready.port,
      rootPid: child.pid,
      gc: async () => {
        const reply = await child.request<BenchMessage & { memory?: ServerMemory }>({ type: 'gc' }, 30_000);
        return reply.memory;
      },
      served: async () => {
        const reply = await child.request<BenchMessage & { served?: number }>({ type: 'stats' }, 30_000);
        return reply.served;
      },
      close: async () => {
        try {
          await child.request({ type: 'close' }, 15_000);
          const timer = setTimeout(() => void child.kill(), 15_000);
          await child.exited;
          clearTimeout(timer);
        } catch {
          await child.kill();
        }
      },
    };
  } catch (err) {
    await child.kill();
    throw err;
  }
}
