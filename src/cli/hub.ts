import type { Command } from 'commander';
import { GatehouseError } from '../errors.ts';
import { connectHubAdmin, startHub } from '../hub/index.ts';
import { createLogger } from '../logger.ts';
import { parseCertificatePem } from '../pki/certificate.ts';
import { readTextFile } from '../pki/store.ts';
import { normalizeThumbprint } from '../pki/thumbprint.ts';
import type { DeviceAuthentication } from '../registry/device.ts';
import { registerHubAdminCommands } from './hub-admin.ts';
import { assertDeviceId, parseLevel, parsePort, withData } from './hub-args.ts';
import type { CliIo } from './io.ts';
import { untilStopSignal } from './signals.ts';

/** `gatehouse hub …`: run the mock IoT Hub and administer a running one. */
export function registerHubCommands(program: Command, io: CliIo): void {
  const hub = program
    .command('hub')
    .description('the mock IoT Hub: registry, CA proof of possession, telemetry, C2D');

  hub
    .command('start')
    .description('run the hub until SIGINT/SIGTERM')
    .requiredOption('--data <dir>', 'data directory (state, tls/, hub.json, admin.token)')
    .option('--host <address>', 'listen address', '127.0.0.1')
    .option('--mqtt-port <port>', 'MQTT over TLS port (0 = any free port)', parsePort, 8883)
    .option('--api-port <port>', 'HTTPS admin + scope API port (0 = any free port)', parsePort, 8443)
    .option('--hostname <name>', 'CN and SAN of the hub server certificate', 'localhost')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', parseLevel, 'info')
    .action(
      async (o: {
        data: string;
        host: string;
        mqttPort: number;
        apiPort: number;
        hostname: string;
        logLevel: string;
      }) => {
        const running = await startHub({
          dataDir: o.data,
          host: o.host,
          mqttPort: o.mqttPort,
          apiPort: o.apiPort,
          hostname: o.hostname,
          logger: createLogger({ level: o.logLevel }),
        });
        io.out(
          `hub listening: mqtts://${running.host}:${running.mqttPort} https://${running.host}:${running.apiPort}`,
        );
        io.out(`hostname ${running.hostname}; root CA for trust_bundle_cert: ${running.rootCaPath}`);
        await untilStopSignal();
        await running.close();
        io.out('hub stopped');
      },
    );

  const device = hub.command('device').description('manage the device registry');
  withData(device.command('add <id>'))
    .description('register a device (exactly one of --thumbprint, --cert, --ca)')
    .option('--thumbprint <hex>', 'primary SHA-256 or SHA-1 thumbprint (self-signed / thumbprint auth)')
    .option('--secondary-thumbprint <hex>', 'secondary thumbprint')
    .option('--cert <file>', 'certificate file whose SHA-256 thumbprint becomes the primary')
    .option('--ca', 'CA authentication (certificate chain to a verified CA, CN = device id)')
    .option('--edge', 'an IoT Edge device (may be a parent)')
    .option('--parent <id>', 'parent edge device')
    .option('--disabled', 'register disabled')
    .action(async (id: string, o: AddOptions) => {
      assertDeviceId(id);
      const auth = await authFromOptions(o);
      if (o.parent !== undefined) assertDeviceId(o.parent);
      const admin = await connectHubAdmin(o.data);
      const record = await admin.addDevice({
        deviceId: id,
        auth,
        ...(o.edge ? { edge: true } : {}),
        ...(o.parent !== undefined ? { parentId: o.parent } : {}),
        ...(o.disabled ? { disabled: true } : {}),
      });
      io.out(
        `added ${record.deviceId} (${record.status}, ${record.authentication.type}${record.capabilities.iotEdge ? ', edge' : ''}${record.parentId ? `, parent ${record.parentId}` : ''})`,
      );
    });

  withData(device.command('update <id>'))
    .description(
      'change a device: its authentication (rotate thumbprints: one of --thumbprint, --cert, --ca) and/or its parent',
    )
    .option('--thumbprint <hex>', 'new primary SHA-256 or SHA-1 thumbprint')
    .option('--secondary-thumbprint <hex>', 'new secondary thumbprint (with --thumbprint or --cert)')
    .option('--cert <file>', 'certificate file whose SHA-256 thumbprint becomes the primary')
    .option('--ca', 'switch to CA authentication')
    .option('--parent <id>', 'new parent edge device')
    .option('--no-parent', 'remove the parent')
    .action(async (id: string, o: UpdateOptions) => {
      assertDeviceId(id);
      const changesAuth = o.thumbprint !== undefined || o.cert !== undefined || o.ca === true;
      if (!changesAuth && o.secondaryThumbprint !== undefined) {
        throw new GatehouseError('GH_ERR_USAGE', '--secondary-thumbprint needs --thumbprint or --cert');
      }
      // commander: --no-parent sets parent to false, --parent <id> to the id.
      const parentId = o.parent === false ? null : typeof o.parent === 'string' ? o.parent : undefined;
      if (!changesAuth && parentId === undefined) {
        throw new GatehouseError(
          'GH_ERR_USAGE',
          'nothing to change: give --thumbprint, --cert, --ca, --parent or --no-parent',
        );
      }
      if (parentId) assertDeviceId(parentId);
      const admin = await connectHubAdmin(o.data);
      const record = await admin.updateDevice(id, {
        ...(changesAuth ? { auth: await authFromOptions(o) } : {}),
        ...(parentId !== undefined ? { parentId } : {}),
      });
      io.out(
        `updated ${record.deviceId} (${record.status}, ${record.authentication.type}${record.parentId ? `, parent ${record.parentId}` : ''})`,
      );
    });

  registerHubAdminCommands(hub, device, io);
}

interface UpdateOptions extends Omit<AddOptions, 'parent' | 'edge' | 'disabled'> {
  /** An id, or false for --no-parent. */
  parent?: string | boolean;
}

interface AddOptions {
  data: string;
  thumbprint?: string;
  secondaryThumbprint?: string;
  cert?: string;
  ca?: boolean;
  edge?: boolean;
  parent?: string;
  disabled?: boolean;
}

async function authFromOptions(
  o: Pick<AddOptions, 'thumbprint' | 'secondaryThumbprint' | 'cert' | 'ca'>,
): Promise<DeviceAuthentication> {
  const chosen = [o.thumbprint !== undefined, o.cert !== undefined, o.ca === true].filter(Boolean).length;
  if (chosen !== 1)
    throw new GatehouseError('GH_ERR_USAGE', 'give exactly one of --thumbprint, --cert or --ca');
  if (o.ca) {
    if (o.secondaryThumbprint !== undefined) {
      throw new GatehouseError('GH_ERR_USAGE', '--secondary-thumbprint needs --thumbprint or --cert');
    }
    return { type: 'certificateAuthority' };
  }
  let primary: string;
  if (o.cert !== undefined) {
    // Any certificate will do: thumbprint authentication only matches its hash (and `openssl req -x509`,
    // as the IoT Hub tutorials use it, marks self-signed device certificates CA:TRUE).
    primary = parseCertificatePem(await readTextFile(o.cert, 'device certificate'), o.cert).sha256;
  } else {
    primary = thumbprintArg(o.thumbprint ?? '', '--thumbprint');
  }
  const secondary =
    o.secondaryThumbprint !== undefined
      ? thumbprintArg(o.secondaryThumbprint, '--secondary-thumbprint')
      : undefined;
  return {
    type: 'selfSigned',
    primaryThumbprint: primary,
    ...(secondary ? { secondaryThumbprint: secondary } : {}),
  };
}

function thumbprintArg(text: string, option: string): string {
  const t = normalizeThumbprint(text);
  if (!t)
    throw new GatehouseError(
      'GH_ERR_INPUT',
      `${option}: not a SHA-256 (64 hex) or SHA-1 (40 hex) thumbprint`,
    );
  return t;
}
