import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { BenchPkiFiles } from '../lib/fixtures.ts';
import { freePort, waitForPort } from '../lib/net.ts';

/**
 * The Mosquitto side of the throughput benchmark: a "sink" broker standing in for the far end (it
 * authenticates the gateway's identity certificate), and an "edge" broker with require_certificate
 * bridged over TLS to the sink with the same identity — the classic Mosquitto gateway.
 */
export interface MosquittoProcess {
  readonly port: number;
  readonly pid: number;
  close(): Promise<void>;
}

async function startConf(
  dir: string,
  name: string,
  port: number,
  lines: string[],
): Promise<MosquittoProcess> {
  const confPath = join(dir, `mosquitto-${name}.conf`);
  const common = [
    'persistence false',
    'log_dest none',
    'set_tcp_nodelay true',
    // As root Mosquitto would switch to user "mosquitto", which cannot read the 0600 key files.
    ...(userInfo().username === 'root' ? ['user root'] : []),
  ];
  await writeFile(confPath, [...common, ...lines, ''].join('\n'));
  const child = spawn('mosquitto', ['-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid === undefined) throw new Error(`mosquitto ${name}: could not start`);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort('127.0.0.1', port, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`mosquitto ${name} did not start: ${(err as Error).message}; stderr: ${stderr.trim()}`);
  }
  return {
    port,
    pid: child.pid,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The far end: accepts clients whose certificate chains to the gateway identity (self-signed). */
export async function startSink(dir: string, files: BenchPkiFiles): Promise<MosquittoProcess> {
  const port = await freePort();
  return startConf(dir, 'sink', port, [
    `listener ${port} 127.0.0.1`,
    `cafile ${files.identityCert}`,
    `certfile ${files.serverChain}`,
    `keyfile ${files.serverKey}`,
    'require_certificate true',
    'use_identity_as_username true',
    'allow_anonymous false',
  ]);
}

/** The Mosquitto gateway: sensors authenticate with their certificates; everything goes to the sink. */
export async function startBridge(
  dir: string,
  files: BenchPkiFiles,
  sinkPort: number,
  gatewayId: string,
): Promise<MosquittoProcess> {
  const port = await freePort();
  return startConf(dir, 'edge', port, [
    `listener ${port} 127.0.0.1`,
    `cafile ${files.cafileThumbprint}`,
    `certfile ${files.serverChain}`,
    `keyfile ${files.serverKey}`,
    'require_certificate true',
    'use_identity_as_username true',
    'allow_anonymous false',
    'connection sink',
    `address 127.0.0.1:${sinkPort}`,
    'topic devices/# out 1',
    'bridge_protocol_version mqttv311',
    `remote_clientid ${gatewayId}`,
    'cleansession true',
    'notifications false',
    'try_private false',
    `bridge_cafile ${files.root}`,
    `bridge_certfile ${files.identityCert}`,
    `bridge_keyfile ${files.identityKey}`,
  ]);
}
