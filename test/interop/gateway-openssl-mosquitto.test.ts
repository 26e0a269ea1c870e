import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCred, writeTestCred } from '../helpers/pki.ts';
import {
  eventually,
  type GatewayEnv,
  startGatewayEnv,
  thumbprintAuth,
} from '../integration/gateway/helpers.ts';

/** Runs a third-party binary with a bounded lifetime; resolves its exit code and output. */
function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; onStdout?: (text: string) => void } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      opts.onStdout?.(stdout);
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let env: GatewayEnv;
let rootPath: string;
const files: Record<string, { cert: string; key: string; chain: string }> = {};
const creds: Record<string, TestCred> = {};

beforeAll(async () => {
  env = await startGatewayEnv();
  rootPath = join(env.dir, 'device-trust-root.pem');
  await writeFile(rootPath, env.pki.root.cert.pem);
  creds.thumb = await env.pki.selfSigned('mq-thumb');
  creds.ca = await env.pki.device('mq-ca');
  creds.stranger = await env.pki.selfSigned('mq-thumb');
  for (const [name, cred] of Object.entries(creds))
    files[name] = await writeTestCred(env.dir, `mq-${name}`, cred);
  await env.addDevice('mq-thumb', thumbprintAuth(creds.thumb as TestCred));
  await env.addDevice('mq-ca', { type: 'certificateAuthority' });
  await env.verifyCa('interop-intermediate', env.pki.intermediate);
  await env.sync();
});

afterAll(async () => {
  await env?.close();
});

const mqttTls = (name: string): string[] => {
  const f = files[name];
  if (!f) throw new Error(`no files for ${name}`);
  return [
    '-h',
    'localhost',
    '-p',
    String(env.gw.port),
    '--cafile',
    rootPath,
    '--cert',
    f.chain,
    '--key',
    f.key,
  ];
};
const username = (id: string): string => `localhost/${id}/?api-version=2021-04-12`;

describe('openssl s_client against the gateway', () => {
  it('verifies the server chain for the hostname: return code 0, depth 3, root not sent', async () => {
    const r = await run('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${env.gw.port}`,
      '-servername',
      'localhost',
      '-CAfile',
      rootPath,
      '-verify_hostname',
      'localhost',
      '-showcerts',
    ]);
    const out = r.stdout + r.stderr;
    expect(out).toContain('Verify return code: 0 (ok)');
    expect(out).toMatch(/^depth=3 CN = Gatehouse Test Root CA$/m);
    expect(out).toMatch(/^depth=0 CN = localhost$/m);
    // What the server sent: leaf, Edge CA, intermediate — not the root.
    expect(out).toMatch(/^ 0 s:CN = localhost$/m);
    expect(out).toMatch(/^ 1 s:CN = Gatehouse Test Edge CA$/m);
    expect(out).toMatch(/^ 2 s:CN = Gatehouse Test Intermediate CA$/m);
    expect(out).not.toMatch(/^ 3 s:/m);
  });

  it('reports a hostname mismatch for another name', async () => {
    const r = await run('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${env.gw.port}`,
      '-CAfile',
      rootPath,
      '-verify_hostname',
      'not-the-gateway.example',
    ]);
    expect(r.stdout + r.stderr).toMatch(/Verify return code: 62 \(hostname mismatch\)/);
  });
});

describe('mosquitto clients against the gateway', () => {
  it('mosquitto_pub with a thumbprint device certificate publishes telemetry that reaches the hub', async () => {
    const r = await run('mosquitto_pub', [
      ...mqttTls('thumb'),
      '-i',
      'mq-thumb',
      '-u',
      username('mq-thumb'),
      '-q',
      '1',
      '-t',
      'devices/mq-thumb/messages/events/src=mosquitto',
      '-m',
      'from mosquitto',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await eventually(async () =>
      (await env.hub.admin.messages({ deviceId: 'mq-thumb' })).some(
        (m) => m.payloadText === 'from mosquitto',
      ),
    );
  });

  it('mosquitto_pub with a CA-signed certificate chain is accepted', async () => {
    const r = await run('mosquitto_pub', [
      ...mqttTls('ca'),
      '-i',
      'mq-ca',
      '-q',
      '1',
      '-t',
      'devices/mq-ca/messages/events/',
      '-m',
      'ca device',
    ]);
    expect(r.code).toBe(0);
  });

  it('mosquitto_pub with an unregistered certificate is refused: not authorised', async () => {
    const r = await run('mosquitto_pub', [
      ...mqttTls('stranger'),
      '-i',
      'mq-thumb',
      '-q',
      '1',
      '-t',
      'devices/mq-thumb/messages/events/',
      '-m',
      'nope',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not authori[sz]ed/i);
    expect(
      env.logs.some((l) => l.msg === 'device refused' && l.thumbprint === creds.stranger?.cert.sha256),
    ).toBe(true);
  });

  it('mosquitto_sub receives a C2D message sent at the hub; another device’s C2D topic is refused', async () => {
    const sub = run(
      'mosquitto_sub',
      [
        ...mqttTls('thumb'),
        '-i',
        'mq-thumb',
        '-q',
        '1',
        '-t',
        'devices/mq-thumb/messages/devicebound/#',
        '-C',
        '1',
        '-W',
        '20',
      ],
      { timeoutMs: 30_000 },
    );
    // mosquitto_sub's stdout is block-buffered on a pipe, so the subscription is observed at the
    // gateway: its upstream link watches the device's C2D once the SUBSCRIBE was authorized.
    const upstream = env.gw.forwarder as unknown as { stats(): { c2dWatched: number } };
    await eventually(() => upstream.stats().c2dWatched > 0, 15_000);
    await env.hub.admin.sendC2d('mq-thumb', 'hello mosquitto');
    const r = await sub;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('hello mosquitto');

    const refused = await run(
      'mosquitto_sub',
      [
        ...mqttTls('thumb'),
        '-i',
        'mq-thumb',
        '-t',
        'devices/mq-ca/messages/devicebound/#',
        '-C',
        '1',
        '-W',
        '3',
        '-d',
      ],
      { timeoutMs: 15_000 },
    );
    // SUBACK 0x80 (128): mosquitto_sub reports the refusal and gives up.
    expect(refused.stdout).toMatch(/Subscribed \(mid: 1\): 128/);
    expect(refused.stderr).toMatch(/All subscription requests were denied/);
  });
});
