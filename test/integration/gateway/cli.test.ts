import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { type GatewayEnv, startGatewayEnv } from './helpers.ts';

let env: GatewayEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'gatehouse', ...argv], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out, err };
}

describe('gatehouse start', () => {
  it('stops with exit 2 and one line naming the key on a configuration error', async () => {
    env = await startGatewayEnv({ start: false });
    const bad = join(env.dir, 'bad.toml');
    const text = await readFile(env.configPath, 'utf8');
    await writeFile(bad, `${text}\n[gateway.limits]\nmax_packet_bytes = 5\n`);
    const r = await run(['start', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^gatehouse: .*max_packet_bytes.*\[GH_ERR_CONFIG\]$/);
  });

  it('stops with exit 2 when the config file is missing', async () => {
    const r = await run(['start', '--config', '/nonexistent/gatehouse.toml']);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
  });

  it('runs as a process: listening line, SIGHUP reloads certificates, SIGTERM stops with exit 0', async () => {
    env = await startGatewayEnv({ start: false });
    const child = spawn(process.execPath, ['bin/gatehouse.js', 'start', '--config', env.configPath], {
      cwd: process.cwd(),
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    const waitFor = async (re: RegExp, ms = 30_000): Promise<void> => {
      const until = Date.now() + ms;
      while (!re.test(stdout)) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`no ${re} in: ${stdout}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor(/gateway gw-1 listening: mqtts:\/\/localhost:\d+/);
      child.kill('SIGHUP');
      await waitFor(/certificates reloaded; server certificate serial [0-9A-F]+/);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stdout).toMatch(/gateway stopped/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
