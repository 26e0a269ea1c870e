import { execFile } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { type HubHandle, startHub } from '../../src/hub/index.ts';
import { silentLogger } from '../../src/logger.ts';
import { makeTempDir } from '../helpers/pki.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

/** The `command: [...]` flow list of a compose service (JSON-compatible in our file). */
function composeCommand(yaml: string, service: string): string[] {
  const block = yaml.split(/\n {2}(?=[a-z-]+:\n)/).find((b) => b.startsWith(`${service}:`)) ?? '';
  const m = /\n\s+command: (\[.*\])/.exec(block);
  if (!m?.[1]) throw new Error(`no command for ${service}`);
  return JSON.parse(m[1]) as string[];
}

/** The sensor's entrypoint: a block list of `- arg` lines. */
function composeEntrypoint(yaml: string, service: string): string[] {
  const block = yaml.split(/\n {2}(?=[a-z-]+:\n)/).find((b) => b.startsWith(`${service}:`)) ?? '';
  const list = /\n\s+entrypoint:\n((?:\s+- .*\n)+)/.exec(`${block}\n`)?.[1] ?? '';
  return list
    .split('\n')
    .map((l) => l.trim().replace(/^- /, ''))
    .filter(Boolean)
    .map((a) => (a.startsWith('"') || a.startsWith("'") ? a.slice(1, -1) : a));
}

/**
 * Rebases a deploy/*.toml onto this machine the way the compose file's volumes and network do:
 * /certs and /data are the volumes, service names resolve to loopback, ports are any free ones.
 */
function rebase(
  toml: string,
  dirs: { certs: string; data: string },
  ports: { up: number; api: number },
): string {
  return toml
    .replaceAll('"/certs/', `"${dirs.certs}/`)
    .replaceAll('"/data/', `"${dirs.data}/`)
    .replace(/^listen_address = .*$/m, 'listen_address = "127.0.0.1"\nupstream_address = "127.0.0.1"')
    .replace(/^port = .*$/m, 'port = 0')
    .replace(/^upstream_mqtt_port = .*$/m, `upstream_mqtt_port = ${ports.up}`)
    .replace(/^upstream_api_port = .*$/m, `upstream_api_port = ${ports.api}`)
    .replace(/^scope_api_port = .*$/m, 'scope_api_port = 0')
    .replace(/^metrics_listen = .*$/m, 'metrics_listen = "127.0.0.1:0"');
}

describe('docker-compose.yml', () => {
  const closers: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  });

  it('is valid compose (docker-compose config)', async () => {
    const { stdout } = await run('docker-compose', [
      '-f',
      join(ROOT, 'docker-compose.yml'),
      'config',
      '--services',
    ]);
    expect(stdout.split('\n').filter(Boolean).sort()).toEqual([
      'certs',
      'child',
      'hub',
      'parent',
      'provision',
      'sensor',
    ]);
  });

  it('runs its own scripts, commands and config files: sensor → child → parent → hub', async () => {
    const yaml = await readFile(join(ROOT, 'docker-compose.yml'), 'utf8');
    expect(composeCommand(yaml, 'parent')).toEqual(['start', '--config', '/app/deploy/parent.toml']);
    expect(composeCommand(yaml, 'child')).toEqual(['start', '--config', '/app/deploy/child.toml']);
    const hubCmd = composeCommand(yaml, 'hub');
    expect(hubCmd.slice(0, 2)).toEqual(['hub', 'start']);
    const arg = (name: string): string => hubCmd[hubCmd.indexOf(name) + 1] ?? '';

    const tmp = await makeTempDir('gatehouse-compose-');
    closers.push(tmp.cleanup);
    const dirs = { certs: join(tmp.dir, 'certs'), data: join(tmp.dir, 'data') };
    const bin = join(tmp.dir, 'bin');
    await mkdir(bin, { recursive: true });
    await symlink(join(ROOT, 'bin/gatehouse.js'), join(bin, 'gatehouse'));
    const env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      CERTS_DIR: dirs.certs,
      HUB_DATA: join(dirs.data, arg('--data').replace(/^\/data\//, '')),
    };

    await run('sh', [join(ROOT, 'deploy/make-certs.sh')], { env });
    const hub: HubHandle = await startHub({
      dataDir: env.HUB_DATA,
      hostname: arg('--hostname'),
      mqttPort: 0,
      apiPort: 0,
      logger: silentLogger(),
    });
    closers.push(() => hub.close());
    await run('sh', [join(ROOT, 'deploy/provision.sh')], { env });
    // Twice: the one-shot jobs must be idempotent, as `docker compose up` reruns them.
    await run('sh', [join(ROOT, 'deploy/make-certs.sh')], { env });
    await run('sh', [join(ROOT, 'deploy/provision.sh')], { env });

    const start = async (name: string, ports: { up: number; api: number }): Promise<Gateway> => {
      const text = rebase(await readFile(join(ROOT, `deploy/${name}.toml`), 'utf8'), dirs, ports);
      const path = join(tmp.dir, `${name}.toml`);
      await writeFile(path, text);
      const gw = await createGateway({ config: await loadConfig(path), logger: silentLogger() });
      closers.push(() => gw.close());
      return gw;
    };
    const parent = await start('parent', { up: hub.mqttPort, api: hub.apiPort });
    const child = await start('child', { up: parent.port, api: parent.scopeApiPort ?? 0 });
    await child.registry.syncNow?.();

    const a = composeEntrypoint(yaml, 'sensor');
    const opt = (flag: string): string => a[a.indexOf(flag) + 1] ?? '';
    const file = (p: string): Promise<string> => readFile(p.replace(/^\/certs\//, `${dirs.certs}/`), 'utf8');
    expect(a[0]).toBe('mosquitto_pub');
    const sensor = await mqtt.connectAsync({
      protocol: 'mqtts',
      host: '127.0.0.1',
      port: child.port,
      servername: opt('-h'),
      ca: await file(opt('--cafile')),
      cert: await file(opt('--cert')),
      key: await file(opt('--key')),
      clientId: opt('-i'),
      username: opt('-u'),
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await sensor.publishAsync(opt('-t'), opt('-m'), { qos: 1 });
    await sensor.endAsync();

    const end = Date.now() + 30_000;
    let got: Awaited<ReturnType<HubHandle['admin']['messages']>>[number] | undefined;
    while (!got && Date.now() < end) {
      got = (await hub.admin.messages({ deviceId: 'sensor-1' }))[0];
      if (!got) await new Promise((r) => setTimeout(r, 200));
    }
    expect(got?.connectionDeviceId).toBe('parent-gateway');
    expect(got?.properties).toMatchObject({ source: 'compose' });
    expect(got?.payloadText).toBe(opt('-m'));
  });
});
