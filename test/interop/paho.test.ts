import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCred, writeTestCred } from '../helpers/pki.ts';
import { type GatewayEnv, startGatewayEnv } from '../integration/gateway/helpers.ts';

const run = promisify(execFile);

// Python's paho-mqtt (Debian python3-paho-mqtt, 1.6 API) as a third, independent MQTT client.
const CLIENT = `
import json, ssl, sys, threading
import paho.mqtt.client as mqtt
a = json.loads(sys.argv[1])
done = threading.Event()
out = {"rc": None, "published": False}
def on_connect(c, u, flags, rc):
    out["rc"] = rc
    if rc != 0:
        done.set(); return
    info = c.publish(a["topic"], a["payload"], qos=1)
    def wait():
        info.wait_for_publish(10)
        out["published"] = info.is_published()
        done.set()
    threading.Thread(target=wait, daemon=True).start()
c = mqtt.Client(client_id=a["id"], protocol=mqtt.MQTTv311)
c.username_pw_set(a["username"])
c.tls_set(ca_certs=a["ca"], certfile=a["cert"], keyfile=a["key"], cert_reqs=ssl.CERT_REQUIRED)
c.on_connect = on_connect
try:
    c.connect("localhost", a["port"], keepalive=30)
except Exception as e:
    print(json.dumps({"error": str(e)})); sys.exit(0)
c.loop_start()
done.wait(15)
c.loop_stop()
print(json.dumps(out))
`;

describe('paho-mqtt (Python) as a device', () => {
  let env: GatewayEnv;
  let device: TestCred;
  let paths: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    env = await startGatewayEnv();
    await env.verifyCa('test-intermediate', env.pki.intermediate);
    device = await env.pki.device('paho-1');
    await env.addDevice('paho-1', { type: 'certificateAuthority' });
    await env.sync();
    const files = await writeTestCred(env.dir, 'paho-1', device);
    const root = await writeTestCred(env.dir, 'root', env.pki.root);
    paths = { ca: root.cert, cert: files.chain, key: files.key };
  });
  afterAll(async () => {
    await env?.close();
  });

  const paho = async (
    id: string,
    extra: Partial<typeof paths> = {},
  ): Promise<{ rc: number; published: boolean }> => {
    const args = {
      id,
      username: `localhost/${id}/?api-version=2021-04-12`,
      port: env.gw.port,
      topic: `devices/${id}/messages/events/client=paho`,
      payload: 'hello-from-paho',
      ...paths,
      ...extra,
    };
    const { stdout } = await run('/usr/bin/python3', ['-c', CLIENT, JSON.stringify(args)], {
      timeout: 30_000,
    });
    return JSON.parse(stdout) as { rc: number; published: boolean };
  };

  it('connects with its CA-signed certificate and its QoS 1 telemetry reaches the hub', async () => {
    const result = await paho('paho-1');
    expect(result).toEqual({ rc: 0, published: true });
    const end = Date.now() + 15_000;
    let found = false;
    while (!found && Date.now() < end) {
      found = (await env.hub.admin.messages({ deviceId: 'paho-1' })).some(
        (m) => m.properties.client === 'paho',
      );
      if (!found) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toBe(true);
  });

  it('is refused (CONNACK 5) as a device it is not', async () => {
    expect((await paho('someone-else')).rc).toBe(5);
    const stranger = await env.pki.device('paho-stranger');
    const files = await writeTestCred(join(env.dir), 'paho-stranger', stranger);
    expect((await paho('paho-stranger', { cert: files.chain, key: files.key })).rc).toBe(5);
  });
});
