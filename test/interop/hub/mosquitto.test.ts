import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, makeTestPki, type TestCred, writeTestCred } from '../../helpers/pki.ts';
import { startTestHub, type TestHub } from '../../integration/hub/helpers.ts';

const run = promisify(execFile);

let t: TestHub;
let dir: string;
let cleanupDir: () => Promise<void>;
let device: { cert: string; key: string };
let stranger: { cert: string; key: string };
let rootCa: string;

beforeAll(async () => {
  t = await startTestHub();
  ({ dir, cleanup: cleanupDir } = await makeTempDir());
  const pki = await makeTestPki();
  const cred: TestCred = await pki.selfSigned('mosq-dev');
  device = await writeTestCred(dir, 'mosq-dev', cred);
  stranger = await writeTestCred(dir, 'stranger', await pki.selfSigned('mosq-dev'));
  rootCa = t.hub.rootCaPath;
  await t.hub.admin.addDevice({
    deviceId: 'mosq-dev',
    auth: { type: 'selfSigned', primaryThumbprint: cred.cert.sha256 },
  });
});

afterAll(async () => {
  await t?.cleanup();
  await cleanupDir?.();
});

const tlsArgs = (c: { cert: string; key: string }) => [
  '-h',
  '127.0.0.1',
  '-p',
  String(t.hub.mqttPort),
  '--cafile',
  rootCa,
  '--cert',
  c.cert,
  '--key',
  c.key,
  '-i',
  'mosq-dev',
  '-V',
  'mqttv311',
  '-q',
  '1',
];

describe('hub with third-party clients', () => {
  it('presents a server certificate openssl verifies for the hostname', async () => {
    const pending = run(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${t.hub.mqttPort}`,
        '-CAfile',
        rootCa,
        '-verify_hostname',
        'localhost',
      ],
      { timeout: 20_000 },
    );
    // s_client quits at end of input.
    pending.child.stdin?.end();
    const { stdout } = await pending;
    expect(stdout).toContain('Verify return code: 0 (ok)');
  });

  it('stores a QoS 1 message from mosquitto_pub and delivers C2D to mosquitto_sub', async () => {
    await run(
      'mosquitto_pub',
      [
        ...tlsArgs(device),
        '-u',
        'localhost/mosq-dev/?api-version=2021-04-12',
        '-t',
        'devices/mosq-dev/messages/events/a=b',
        '-m',
        'from mosquitto',
      ],
      { timeout: 20_000 },
    );
    const [m] = await t.hub.admin.messages({ deviceId: 'mosq-dev' });
    expect(m).toMatchObject({
      payloadText: 'from mosquitto',
      properties: { a: 'b' },
      connectionDeviceId: 'mosq-dev',
    });

    const { id } = await t.hub.admin.sendC2d('mosq-dev', 'to mosquitto');
    const { stdout } = await run(
      'mosquitto_sub',
      [...tlsArgs(device), '-t', 'devices/mosq-dev/messages/devicebound/#', '-C', '1', '-v', '-W', '15'],
      { timeout: 20_000 },
    );
    expect(stdout).toContain(`%24.mid=${id}`);
    expect(stdout.trim().endsWith('to mosquitto')).toBe(true);
  });

  it('refuses mosquitto_pub with an unregistered certificate', async () => {
    const err = await run(
      'mosquitto_pub',
      [...tlsArgs(stranger), '-t', 'devices/mosq-dev/messages/events/', '-m', 'x'],
      { timeout: 20_000 },
    ).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).not.toBe(0);
    expect(err?.stderr).toMatch(/not authori[sz]ed/i);
  });
});
