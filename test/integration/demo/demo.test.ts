import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../../src/cli/io.ts';
import { runDemo } from '../../../src/demo/run-demo.ts';
import { makeTempDir } from '../../helpers/pki.ts';

function capture(): { io: CliIo; lines: string[] } {
  const lines: string[] = [];
  return { lines, io: { out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) } };
}

describe('gatehouse demo (what npm start runs)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('shows telemetry reaching the hub through the gateway and a C2D message going down, then reuses everything', async () => {
    const tmp = await makeTempDir('gatehouse-demo-');
    cleanups.push(tmp.cleanup);
    const opts = {
      workDir: join(tmp.dir, '.gatehouse'),
      certsDir: join(tmp.dir, 'certs'),
      json: false,
      ephemeralPorts: true,
    };

    const first = capture();
    expect(await runDemo({ ...opts, durationSecs: 6, io: first.io })).toBe(0);
    const text = first.lines.join('\n');
    expect(text).toMatch(/made root-ca, intermediate-ca/);
    expect(text).toMatch(/CA "demo-intermediate-[0-9a-f]{8}" verified/);
    expect(text).toMatch(/\[sensor-thumb-01\] TLSv1\.3 handshake ok.*authenticated by thumbprint/);
    expect(text).toMatch(/\[sensor-ca-01\] TLSv1\.3 handshake ok.*authenticated by CA chain/);
    expect(text).toMatch(/received from sensor-thumb-01 via demo-gateway/);
    expect(text).toMatch(/received from sensor-ca-01 via demo-gateway/);
    expect(text).toMatch(/\[sensor-ca-01\] received cloud-to-device message: "hello from the cloud"/);
    expect(text).toMatch(/mosquitto_pub -h 127\.0\.0\.1/);
    expect(text).toMatch(/stopped cleanly/);
    expect(text).not.toMatch(/\[(warn|error)\]/);
    expect(text).not.toMatch(/^\{/m);

    const second = capture();
    expect(await runDemo({ ...opts, durationSecs: 4, io: second.io })).toBe(0);
    const again = second.lines.join('\n');
    expect(again).toMatch(/reused the PKI/);
    expect(again).toMatch(/already uploaded and verified/);
    expect(again).toMatch(/kept device sensor-ca-01/);
    expect(again).toMatch(/received from sensor-ca-01 via demo-gateway/);
  });
});
