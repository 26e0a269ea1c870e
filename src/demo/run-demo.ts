import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CliIo } from '../cli/io.ts';
import { untilStopSignal } from '../cli/signals.ts';
import { loadConfig } from '../config/index.ts';
import { createGateway, type Gateway } from '../gateway.ts';
import { type HubHandle, startHub } from '../hub/index.ts';
import { createLogger, type Logger } from '../logger.ts';
import { type DemoPki, ensureDemoPki } from '../pki/demo-pki.ts';
import { createVerification, INTERMEDIATE_CA } from '../pki/pki-dir.ts';
import { pasteableCommands } from './commands.ts';
import { gatewayToml } from './gateway-toml.ts';
import { followHub } from './hub-follower.ts';
import { createNarrator, type Narrator } from './narrator.ts';
import { ensureDevice, ensureVerifiedCa } from './register.ts';
import { type Sensor, type SensorEvent, startSensor } from './sensor.ts';
import { type DemoTopology, demoTopology } from './topology.ts';

export interface DemoOptions {
  /** Where hub and gateway data live. Default `./.gatehouse`. */
  readonly workDir: string;
  /** Where the demo PKI is made or reused. Default `./certs`. */
  readonly certsDir: string;
  /** Raw JSON lines instead of the narrated view. */
  readonly json: boolean;
  /** Any free ports instead of the fixed ones (tests). */
  readonly ephemeralPorts: boolean;
  /** Stop by itself after this many seconds (tests); default: run until SIGINT/SIGTERM. */
  readonly durationSecs: number | undefined;
  readonly io: CliIo;
}

/**
 * `gatehouse demo`: the whole system on one machine — PKI, mock hub, one gateway, two sensors — with
 * a narrated view of every trust step. Everything runs in this process, so Ctrl-C leaves nothing behind.
 */
export async function runDemo(o: DemoOptions): Promise<number> {
  const topo = demoTopology(o.ephemeralPorts);
  const say = createNarrator(o.io, o.json);
  const logger = demoLogger(o, say);
  const running: Array<{ close: () => Promise<unknown> }> = [];
  try {
    say.step('1. Certificates');
    const pki = await makePki(resolve(o.certsDir), topo, say);

    say.step('2. Mock IoT Hub');
    const hub = await startHub({
      dataDir: join(o.workDir, 'hub'),
      mqttPort: topo.ports.hubMqtt,
      apiPort: topo.ports.hubApi,
      hostname: topo.hubHostname,
      logger,
    });
    running.push(hub);
    say.say('hub', `MQTT on ${hub.host}:${hub.mqttPort}, admin + scope API on ${hub.host}:${hub.apiPort}`);
    say.say('hub', `its "public" root (the gateway's trust_bundle_cert): ${hub.rootCaPath}`);

    say.step('3. Registry');
    await register(hub, pki, topo, say, o.certsDir);

    say.step('4. Gateway');
    const gateway = await startGateway(o, hub, pki, topo, logger, say);
    running.push(gateway);

    say.step('5. Sensors → gateway → hub');
    let c2dSent = false;
    const stopFollow = followHub(hub.admin, say, async (deviceId) => {
      // One cloud-to-device message, once the CA sensor's telemetry has proved the path up works.
      if (c2dSent || deviceId !== topo.caSensorId) return;
      c2dSent = true;
      const { id } = await hub.admin.sendC2d(deviceId, 'hello from the cloud', { source: 'demo' });
      say.say('hub', `sent cloud-to-device message ${id} to ${deviceId} (hub → gateway → sensor)`);
    });
    running.push({ close: async () => stopFollow() });
    const sensors = await startSensors(gateway, pki, topo, say);
    running.push(...sensors);

    say.step('6. Try it yourself');
    say.block(pasteableCommands(pki, topo, gateway.port));
    say.say('demo', o.durationSecs ? `running for ${o.durationSecs} s` : 'running; press Ctrl-C to stop');
    await untilStopSignal(o.durationSecs === undefined ? undefined : o.durationSecs * 1000);
    say.step('Stopping');
    return 0;
  } finally {
    for (const r of running.reverse()) await r.close().catch(() => {});
    say.say('demo', 'stopped cleanly');
  }
}

async function makePki(dir: string, topo: DemoTopology, say: Narrator): Promise<DemoPki> {
  const pki = await ensureDemoPki(dir, {
    edgeCaName: topo.edgeCaName,
    hostname: topo.gatewayHostname,
    identities: [topo.gatewayId],
    caDevices: [topo.caSensorId],
    selfSignedDevices: [topo.thumbSensorId],
  });
  say.say(
    'pki',
    pki.created.length > 0 ? `made ${pki.created.join(', ')} in ${pki.dir}` : `reused the PKI in ${pki.dir}`,
  );
  const rows: Array<[string, { sha256: string }]> = [
    ['root CA', pki.root],
    ['intermediate CA', pki.intermediate],
    [`Edge CA "${topo.edgeCaName}"`, pki.edgeCa],
    [`gateway identity "${topo.gatewayId}"`, pki.identities[topo.gatewayId] as { sha256: string }],
    [
      `thumbprint sensor "${topo.thumbSensorId}" (self-signed)`,
      pki.devices[topo.thumbSensorId] as { sha256: string },
    ],
    [
      `CA sensor "${topo.caSensorId}" (signed by the intermediate)`,
      pki.devices[topo.caSensorId] as { sha256: string },
    ],
  ];
  for (const [what, cred] of rows) say.say('pki', `${what}: SHA-256 ${cred.sha256}`);
  return pki;
}

async function register(
  hub: HubHandle,
  pki: DemoPki,
  topo: DemoTopology,
  say: Narrator,
  certsDir: string,
): Promise<void> {
  const intermediatePem = await readFile(pki.intermediate.paths.cert, 'utf8');
  await ensureVerifiedCa(
    hub.admin,
    `${topo.caName}-${pki.intermediate.sha256.slice(0, 8).toLowerCase()}`,
    intermediatePem,
    async (code) => {
      const made = await createVerification({ dir: certsDir, code, ca: INTERMEDIATE_CA, force: true });
      return made.cert.pem;
    },
    say.say,
  );
  const thumb = (id: string, set: Record<string, { sha256: string }>): string =>
    (set[id] as { sha256: string }).sha256;
  await ensureDevice(
    hub.admin,
    {
      deviceId: topo.gatewayId,
      auth: { type: 'selfSigned', primaryThumbprint: thumb(topo.gatewayId, pki.identities) },
      edge: true,
    },
    say.say,
  );
  await ensureDevice(
    hub.admin,
    {
      deviceId: topo.thumbSensorId,
      auth: { type: 'selfSigned', primaryThumbprint: thumb(topo.thumbSensorId, pki.devices) },
      parentId: topo.gatewayId,
    },
    say.say,
  );
  await ensureDevice(
    hub.admin,
    { deviceId: topo.caSensorId, auth: { type: 'certificateAuthority' }, parentId: topo.gatewayId },
    say.say,
  );
}

async function startGateway(
  o: DemoOptions,
  hub: HubHandle,
  pki: DemoPki,
  topo: DemoTopology,
  logger: Logger,
  say: Narrator,
): Promise<Gateway> {
  const dir = resolve(o.workDir);
  await mkdir(dir, { recursive: true });
  const configPath = join(dir, 'gateway.toml');
  await writeFile(configPath, gatewayToml({ dataDir: join(dir, 'gateway'), hub, pki, topo }));
  const config = await loadConfig(configPath);
  const gateway = await createGateway({ config, logger });
  await gateway.registry.syncNow?.();
  const server = gateway.serverCertificate();
  say.say('gateway', `config ${configPath}`);
  say.say(
    'gateway',
    `listening on ${topo.gatewayHostname}:${gateway.port} (MQTT over TLS, client certificate required)`,
  );
  say.say('gateway', `server certificate CN=${server.subjectCn}, issued by Edge CA "${server.issuerCn}"`);
  say.say(
    'gateway',
    `registry cache: ${gateway.registry.status().size} devices synced from the hub's scope API`,
  );
  if (gateway.metricsPort)
    say.say('gateway', `metrics and health on http://127.0.0.1:${gateway.metricsPort}/metrics`);
  return gateway;
}

async function startSensors(
  gateway: Gateway,
  pki: DemoPki,
  topo: DemoTopology,
  say: Narrator,
): Promise<Sensor[]> {
  const caPem = await readFile(pki.root.paths.cert, 'utf8');
  const onEvent = (e: SensorEvent): void => narrateSensor(e, topo, say);
  const sensors: Sensor[] = [];
  for (const id of [topo.thumbSensorId, topo.caSensorId]) {
    const cred = pki.devices[id];
    if (!cred) continue;
    sensors.push(
      await startSensor({
        deviceId: id,
        host: '127.0.0.1',
        port: gateway.port,
        servername: topo.gatewayHostname,
        iothubHostname: topo.hubHostname,
        caPem,
        certPem: await readFile(cred.paths.chain, 'utf8'),
        keyPem: await readFile(cred.paths.key, 'utf8'),
        onEvent,
      }),
    );
  }
  return sensors;
}

function narrateSensor(e: SensorEvent, topo: DemoTopology, say: Narrator): void {
  const method = e.deviceId === topo.thumbSensorId ? 'thumbprint' : 'CA chain';
  switch (e.kind) {
    case 'connected':
      say.say(
        e.deviceId,
        `${e.protocol} handshake ok; gateway presented ${e.serverSubject}; authenticated by ${method}`,
      );
      break;
    case 'sent':
      if (e.seq <= 3 || e.seq % 10 === 0)
        say.say(e.deviceId, `sent #${e.seq} ${e.body} (QoS 1, PUBACK received)`);
      break;
    case 'c2d':
      say.say(e.deviceId, `received cloud-to-device message: "${e.payload}"`);
      break;
    case 'error':
      say.say(e.deviceId, `error: ${e.message}`);
      break;
  }
}

function demoLogger(o: DemoOptions, say: Narrator): Logger {
  if (o.json) return createLogger({ level: 'info' });
  // The narrated view shows warnings and errors only, as readable lines.
  return createLogger({
    level: 'warn',
    destination: {
      write: (line: string) => {
        try {
          const rec = JSON.parse(line) as {
            level: number;
            msg?: string;
            component?: string;
            reason?: string;
          };
          say.say(
            rec.level >= 50 ? 'error' : 'warn',
            `${rec.component ?? 'gatehouse'}: ${rec.msg ?? ''}${rec.reason ? ` (${rec.reason})` : ''}`,
          );
        } catch {
          say.say('log', line.trim());
        }
      },
    },
  });
}
