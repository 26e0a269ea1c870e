import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { makeCred, makeTempDir, makeTestPki, type TestPki, writeTestCred } from '../../helpers/pki.ts';
import { connectDevice, eventually, startTestHub, type TestHub } from './helpers.ts';

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function run(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'gatehouse', ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out, err };
}

/** Starts a command that runs until a signal, returning its pending result and live output. */
function runUntilSignal(...args: string[]): { done: Promise<number>; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const done = main(['node', 'gatehouse', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { done, out, err };
}

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});

describe('gatehouse hub start', () => {
  it('runs until SIGINT, then closes cleanly with exit 0', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const data = join(dir, 'hub');
      const started = runUntilSignal(
        'hub',
        'start',
        '--data',
        data,
        '--mqtt-port',
        '0',
        '--api-port',
        '0',
        '--log-level',
        'silent',
      );
      await eventually(() => existsSync(join(data, 'hub.json')), 20_000);
      expect(started.out[0]).toMatch(
        /^hub listening: mqtts:\/\/127\.0\.0\.1:\d+ https:\/\/127\.0\.0\.1:\d+$/,
      );
      const list = await run('hub', 'device', 'list', '--data', data);
      expect(list).toEqual({ code: 0, out: [], err: [] });
      process.emit('SIGINT');
      expect(await started.done).toBe(0);
      expect(started.out).toContain('hub stopped');
      expect(existsSync(join(data, 'hub.json'))).toBe(false);
      expect(existsSync(join(data, 'tls', 'root-ca.cert.pem'))).toBe(true);
    } finally {
      await cleanup();
    }
  });

  it('reports a port in use in one line (exit 3) and bad ports as usage errors (exit 2)', async () => {
    const t = await startTestHub();
    try {
      const { dir, cleanup } = await makeTempDir();
      const busy = await run(
        'hub',
        'start',
        '--data',
        dir,
        '--mqtt-port',
        String(t.hub.mqttPort),
        '--api-port',
        '0',
        '--log-level',
        'silent',
      );
      await cleanup();
      expect(busy.code).toBe(3);
      expect(busy.err).toHaveLength(1);
      expect(busy.err[0]).toContain(`MQTT port ${t.hub.mqttPort}`);
      expect(busy.err[0]).toContain('GH_ERR_ADDRESS_IN_USE');
      const bad = await run('hub', 'start', '--data', dir, '--mqtt-port', '99999');
      expect(bad.code).toBe(2);
      expect(bad.err.join('\n')).toContain('--mqtt-port');
    } finally {
      await t.cleanup();
    }
  });
});

describe('gatehouse hub admin commands', () => {
  let t: TestHub;
  let data: string;
  let files: string;
  let cleanupFiles: () => Promise<void>;

  beforeAll(async () => {
    t = await startTestHub();
    data = t.dir;
    ({ dir: files, cleanup: cleanupFiles } = await makeTempDir());
  });

  afterAll(async () => {
    await t?.cleanup();
    await cleanupFiles?.();
  });

  it('adds devices by thumbprint, certificate file and CA; lists, shows, disables, enables, removes', async () => {
    const gw = await pki.selfSigned('cli-gw');
    const gwFiles = await writeTestCred(files, 'cli-gw', gw);
    expect(
      (await run('hub', 'device', 'add', 'cli-gw', '--cert', gwFiles.cert, '--edge', '--data', data)).code,
    ).toBe(0);
    expect((await t.hub.admin.getDevice('cli-gw')).authentication).toEqual({
      type: 'selfSigned',
      primaryThumbprint: gw.cert.sha256,
    });

    const added = await run(
      'hub',
      'device',
      'add',
      'cli-thumb',
      '--thumbprint',
      gw.cert.sha1.toLowerCase(),
      '--secondary-thumbprint',
      'AB'.repeat(32),
      '--parent',
      'cli-gw',
      '--data',
      data,
    );
    expect(added.code).toBe(0);
    expect(added.out[0]).toContain('cli-thumb');
    expect((await run('hub', 'device', 'add', 'cli-ca', '--ca', '--disabled', '--data', data)).code).toBe(0);

    const list = await run('hub', 'device', 'list', '--data', data);
    expect(list.out.map((l) => l.split('  ')[0])).toEqual(['cli-ca', 'cli-gw', 'cli-thumb']);
    expect(list.out.find((l) => l.startsWith('cli-thumb'))).toContain('parent=cli-gw');

    const show = await run('hub', 'device', 'show', 'cli-ca', '--data', data);
    expect(JSON.parse(show.out.join('\n'))).toMatchObject({
      deviceId: 'cli-ca',
      status: 'disabled',
      authentication: { type: 'certificateAuthority' },
    });

    expect((await run('hub', 'device', 'enable', 'cli-ca', '--data', data)).code).toBe(0);
    expect((await t.hub.admin.getDevice('cli-ca')).status).toBe('enabled');
    expect((await run('hub', 'device', 'disable', 'cli-ca', '--data', data)).code).toBe(0);
    expect((await t.hub.admin.getDevice('cli-ca')).status).toBe('disabled');

    const busy = await run('hub', 'device', 'remove', 'cli-gw', '--data', data);
    expect(busy.code).toBe(2);
    expect(busy.err[0]).toContain('GH_ERR_CONFLICT');
    expect((await run('hub', 'device', 'remove', 'cli-ca', '--data', data)).code).toBe(0);
    expect((await run('hub', 'device', 'show', 'cli-ca', '--data', data)).code).toBe(2);
  });

  it('updates a device: rotates its thumbprints, switches to CA authentication, moves and clears its parent', async () => {
    const gw = await pki.selfSigned('upd-gw');
    const next = await pki.selfSigned('upd-dev');
    const nextFiles = await writeTestCred(files, 'upd-dev-next', next);
    expect(
      (
        await run(
          'hub',
          'device',
          'add',
          'upd-gw',
          '--cert',
          (
            await writeTestCred(files, 'upd-gw', gw)
          ).cert,
          '--edge',
          '--data',
          data,
        )
      ).code,
    ).toBe(0);
    expect(
      (await run('hub', 'device', 'add', 'upd-dev', '--thumbprint', 'AB'.repeat(32), '--data', data)).code,
    ).toBe(0);

    // Rotation as IoT Hub documents it: the new certificate becomes primary, the old one secondary.
    const rotated = await run(
      'hub',
      'device',
      'update',
      'upd-dev',
      '--cert',
      nextFiles.cert,
      '--secondary-thumbprint',
      'AB'.repeat(32),
      '--data',
      data,
    );
    expect(rotated).toMatchObject({ code: 0, err: [] });
    expect(rotated.out[0]).toBe('updated upd-dev (enabled, selfSigned)');
    expect((await t.hub.admin.getDevice('upd-dev')).authentication).toEqual({
      type: 'selfSigned',
      primaryThumbprint: next.cert.sha256,
      secondaryThumbprint: 'AB'.repeat(32),
    });

    expect(
      (await run('hub', 'device', 'update', 'upd-dev', '--parent', 'upd-gw', '--data', data)).out[0],
    ).toBe('updated upd-dev (enabled, selfSigned, parent upd-gw)');
    expect(
      (await run('hub', 'device', 'update', 'upd-dev', '--ca', '--no-parent', '--data', data)).code,
    ).toBe(0);
    const after = await t.hub.admin.getDevice('upd-dev');
    expect(after.authentication).toEqual({ type: 'certificateAuthority' });
    expect(after.parentId).toBeUndefined();

    const unchanged = JSON.stringify(await t.hub.admin.getDevice('upd-dev'));
    for (const args of [
      ['hub', 'device', 'update', 'upd-dev'],
      ['hub', 'device', 'update', 'upd-dev', '--secondary-thumbprint', 'AB'.repeat(32)],
      ['hub', 'device', 'update', 'upd-dev', '--ca', '--thumbprint', 'AB'.repeat(32)],
      ['hub', 'device', 'update', 'upd-dev', '--parent', 'no-such-parent'],
      ['hub', 'device', 'update', 'upd-dev', '--parent', 'bad/id'],
      ['hub', 'device', 'update', 'no-such-device', '--ca'],
    ]) {
      const r = await run(...args, '--data', data);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toHaveLength(1);
    }
    expect(JSON.stringify(await t.hub.admin.getDevice('upd-dev'))).toBe(unchanged);
  });

  it('uploads, verifies and lists a CA', async () => {
    const caFiles = await writeTestCred(files, 'cli-ca-root', pki.root);
    const up = await run('hub', 'ca', 'upload', 'cli-root', '--cert', caFiles.cert, '--data', data);
    expect(up.code).toBe(0);
    const code = up.out[0] ?? '';
    expect(code).toMatch(/^[0-9A-F]{32}$/);
    const proof = await writeTestCred(files, 'cli-proof', await makeCred('verification', code, pki.root));
    const wrong = await writeTestCred(files, 'cli-wrong', await makeCred('verification', 'WRONG', pki.root));
    const refused = await run('hub', 'ca', 'verify', 'cli-root', '--cert', wrong.cert, '--data', data);
    expect(refused.code).toBe(2);
    expect(refused.err).toHaveLength(1);
    expect(refused.err[0]).toContain('GH_ERR_VERIFICATION');
    expect((await run('hub', 'ca', 'verify', 'cli-root', '--cert', proof.cert, '--data', data)).out).toEqual([
      'cli-root verified',
    ]);
    const list = await run('hub', 'ca', 'list', '--data', data);
    expect(list.out[0]).toMatch(/^cli-root {2}verified {2}[0-9A-F]{64}/);
  });

  it('prints messages one per line (and as JSON), follows until SIGINT, and sends C2D', async () => {
    const dev = await pki.selfSigned('cli-dev');
    await t.hub.admin.addDevice({
      deviceId: 'cli-dev',
      auth: { type: 'selfSigned', primaryThumbprint: dev.cert.sha256 },
    });
    const c = await connectDevice(t.hub, 'cli-dev', dev);
    await c.publishAsync('devices/cli-dev/messages/events/k=v', 'line one\nline two', { qos: 1 });

    const plain = await run('hub', 'messages', '--device', 'cli-dev', '--data', data);
    expect(plain.out).toHaveLength(1);
    expect(plain.out[0]).toMatch(/^#\d+ \S+ cli-dev \[k=v\] "line one\\nline two"$/);
    const json = await run('hub', 'messages', '--json', '--data', data);
    expect(JSON.parse(json.out[0] ?? '{}')).toMatchObject({
      deviceId: 'cli-dev',
      payloadText: 'line one\nline two',
    });

    const follow = runUntilSignal('hub', 'messages', '--follow', '--device', 'cli-dev', '--data', data);
    await eventually(() => follow.out.length === 1, 10_000);
    await c.publishAsync('devices/cli-dev/messages/events/', 'later', { qos: 1 });
    await eventually(() => follow.out.length === 2, 10_000);
    expect(follow.out[1]).toContain('"later"');
    process.emit('SIGINT');
    expect(await follow.done).toBe(0);

    const arriving = new Promise<string>((resolve) => c.once('message', (topic) => resolve(topic)));
    await c.subscribeAsync('devices/cli-dev/messages/devicebound/#', { qos: 1 });
    const sent = await run(
      'hub',
      'c2d',
      'cli-dev',
      'hello',
      '--property',
      'a=1',
      '--property',
      'b=x=y',
      '--data',
      data,
    );
    expect(sent.code).toBe(0);
    const topic = await arriving;
    expect(topic).toContain(`%24.mid=${sent.out[0]}`);
    expect(topic).toContain('a=1&b=x%3Dy');
    await c.endAsync();
  });

  it('answers bad input with one line on stderr and exit 2, leaving the hub unchanged', async () => {
    const before = JSON.stringify(await t.hub.admin.listDevices());
    const cases: string[][] = [
      ['hub', 'device', 'add', 'bad/id', '--ca'],
      ['hub', 'device', 'add', 'x-1'],
      ['hub', 'device', 'add', 'x-1', '--ca', '--thumbprint', 'AB'.repeat(32)],
      ['hub', 'device', 'add', 'x-1', '--thumbprint', 'nothex'],
      ['hub', 'device', 'add', 'x-1', '--ca', '--secondary-thumbprint', 'AB'.repeat(32)],
      ['hub', 'device', 'add', 'x-1', '--cert', join(files, 'missing.pem')],
      ['hub', 'device', 'add', 'x-1', '--thumbprint', 'AB'.repeat(32), '--parent', 'no-such-parent'],
      ['hub', 'device', 'add', 'x-1', '--ca', '--bogus'],
      ['hub', 'c2d', 'cli-dev', 'x', '--property', 'novalue'],
      ['hub', 'messages', '--device', 'bad/id'],
    ];
    for (const args of cases) {
      const r = await run(...args, '--data', data);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toHaveLength(1);
    }
    expect(JSON.stringify(await t.hub.admin.listDevices())).toBe(before);
  });

  it('reports a data directory without a running hub', async () => {
    const r = await run('hub', 'device', 'list', '--data', files);
    expect(r.code).toBe(3);
    expect(r.err[0]).toContain('no hub is running');
  });
});
