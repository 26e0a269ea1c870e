import { execFileSync, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../net.ts';
import { openFileLimits } from '../proc.ts';
import type { ServerHandle } from './handle.ts';

/** Baseline (b): Debian's Mosquitto with client certificates required and the cert CN as username. */

/** The installed Mosquitto version ("2.0.11"), or null when `mosquitto` is not on the PATH. */
export function mosquittoVersion(): string | null {
  try {
    // `mosquitto -h` prints its version and exits with status 3; execFileSync throws, the text is on stdout.
    execFileSync('mosquitto', ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return null;
  } catch (err) {
    const out = String((err as { stdout?: unknown }).stdout ?? '');
    return /mosquitto version (\S+)/.exec(out)?.[1] ?? null;
  }
}

export interface MosquittoOptions {
  readonly dir: string;
  readonly host: string;
  readonly cafile: string;
  readonly certfile: string;
  readonly keyfile: string;
  /** Open files the broker needs (connections + margin); raised through `ulimit -n`. */
  readonly openFiles: number;
}

export async function startMosquitto(options: MosquittoOptions): Promise<ServerHandle> {
  const port = await freePort(options.host);
  const confPath = join(options.dir, `mosquitto-${port}.conf`);
  const user = userInfo().username;
  await writeFile(
    confPath,
    [
      `listener ${port} ${options.host}`,
      `cafile ${options.cafile}`,
      `certfile ${options.certfile}`,
      `keyfile ${options.keyfile}`,
      'require_certificate true',
      'use_identity_as_username true',
      'allow_anonymous false',
      'persistence false',
      'max_connections -1',
      'log_dest none',
      // Without it the CONNACK waits behind the TLS 1.3 session tickets for the client's delayed ACK (~40 ms).
      'set_tcp_nodelay true',
      // Run as root, Mosquitto would switch to user "mosquitto", which cannot read the 0600 key files.
      ...(user === 'root' ? ['user root'] : []),
      '',
    ].join('\n'),
  );
  const limits = openFileLimits();
  const nofile = Math.min(Math.max(options.openFiles, limits.soft), limits.hard);
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${nofile} && exec mosquitto -c "$0"`, confPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('mosquitto: could not start');
  // Kept (bounded) for the error message; it would otherwise only say it runs as root.
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(options.host, port, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`mosquitto did not start: ${(err as Error).message}; stderr: ${stderr.trim()}`);
  }
  const pid = child.pid;
  return {
    name: 'mosquitto',
    host: options.host,
    port,
    rootPid: pid,
    gc: async () => undefined,
    served: async () => undefined,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
