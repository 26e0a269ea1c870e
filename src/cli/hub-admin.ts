import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { GatehouseError } from '../errors.ts';
import { connectHubAdmin, type StoredMessage } from '../hub/index.ts';
import { formatPropertyBag } from '../iothub/topics.ts';
import { readTextFile } from '../pki/store.ts';
import type { DeviceRecord } from '../registry/device.ts';
import { assertDeviceId, withData } from './hub-args.ts';
import type { CliIo } from './io.ts';
import { untilStopSignal } from './signals.ts';

/** How often `messages --follow` asks the hub for new messages. */
const FOLLOW_INTERVAL_MS = 1000;
const PAGE = 1000;

/** The admin subcommands that read or change a running hub (`device …` except add, `ca …`, `messages`, `c2d`). */
export function registerHubAdminCommands(hub: Command, device: Command, io: CliIo): void {
  withData(device.command('list'))
    .description('list registered devices')
    .option('--json', 'one JSON record per line')
    .action(async (o: { data: string; json?: boolean }) => {
      const admin = await connectHubAdmin(o.data);
      for (const r of await admin.listDevices()) io.out(o.json ? JSON.stringify(r) : deviceLine(r));
    });
  withData(device.command('show <id>'))
    .description('print one device record as JSON')
    .action(async (id: string, o: { data: string }) => {
      assertDeviceId(id);
      io.out(JSON.stringify(await (await connectHubAdmin(o.data)).getDevice(id), null, 2));
    });
  for (const [name, status] of [
    ['enable', 'enabled'],
    ['disable', 'disabled'],
  ] as const) {
    withData(device.command(`${name} <id>`))
      .description(`${name} a device${name === 'disable' ? ' (its live connection is closed)' : ''}`)
      .action(async (id: string, o: { data: string }) => {
        assertDeviceId(id);
        const r = await (await connectHubAdmin(o.data)).updateDevice(id, { status });
        io.out(deviceLine(r));
      });
  }
  withData(device.command('remove <id>'))
    .description('remove a device (refused while it is the parent of other devices)')
    .action(async (id: string, o: { data: string }) => {
      assertDeviceId(id);
      await (await connectHubAdmin(o.data)).removeDevice(id);
      io.out(`removed ${id}`);
    });

  const ca = hub.command('ca').description('device CA certificates and their proof of possession');
  withData(ca.command('upload <name>'))
    .description('upload a CA certificate; prints the verification code')
    .requiredOption('--cert <file>', 'the CA certificate (PEM)')
    .action(async (name: string, o: { data: string; cert: string }) => {
      const pem = await readTextFile(o.cert, 'CA certificate');
      const result = await (await connectHubAdmin(o.data)).uploadCa(name, pem);
      io.out(result.verificationCode);
    });
  withData(ca.command('verify <name>'))
    .description('prove possession: a certificate with CN = the code, signed by the CA')
    .requiredOption('--cert <file>', 'the verification certificate (PEM)')
    .action(async (name: string, o: { data: string; cert: string }) => {
      const pem = await readTextFile(o.cert, 'verification certificate');
      const result = await (await connectHubAdmin(o.data)).verifyCa(name, pem);
      io.out(`${result.name} verified`);
    });
  withData(ca.command('list'))
    .description('list CA certificates')
    .action(async (o: { data: string }) => {
      for (const c of await (await connectHubAdmin(o.data)).listCas()) {
        io.out(
          `${c.name}  ${c.verified ? 'verified' : 'unverified'}  ${c.thumbprint}  ${c.subject}  until ${c.notAfter}`,
        );
      }
    });

  withData(hub.command('messages'))
    .description('print received telemetry, one line per message')
    .option('--device <id>', 'only messages for this device')
    .option('--follow', 'keep polling for new messages until Ctrl-C')
    .option('--json', 'one JSON object per line')
    .action(async (o: { data: string; device?: string; follow?: boolean; json?: boolean }) => {
      if (o.device !== undefined) assertDeviceId(o.device);
      const admin = await connectHubAdmin(o.data);
      let after = 0;
      let stopped = false;
      const stop = o.follow ? untilStopSignal().then(() => (stopped = true)) : undefined;
      for (;;) {
        const page = await admin.messages({
          ...(o.device ? { deviceId: o.device } : {}),
          after,
          limit: PAGE,
        });
        for (const m of page) io.out(o.json ? JSON.stringify(m) : messageLine(m));
        after = page[page.length - 1]?.seq ?? after;
        if (page.length === PAGE) continue; // a full page: more are waiting
        if (!o.follow || stopped) break;
        await Promise.race([sleep(FOLLOW_INTERVAL_MS), stop]);
        if (stopped) break;
      }
    });

  withData(hub.command('c2d <id> <payload>'))
    .description('send a cloud-to-device message (delivered when the device subscribes)')
    .option(
      '--property <k=v>',
      'application property (repeatable)',
      collectProperty,
      {} as Record<string, string>,
    )
    .action(async (id: string, payload: string, o: { data: string; property: Record<string, string> }) => {
      assertDeviceId(id);
      const result = await (await connectHubAdmin(o.data)).sendC2d(id, payload, o.property);
      io.out(result.id);
    });
}

function collectProperty(value: string, acc: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq < 1)
    throw new GatehouseError('GH_ERR_USAGE', `--property "${value.slice(0, 80)}": expected key=value`);
  return { ...acc, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function deviceLine(r: DeviceRecord): string {
  const auth =
    r.authentication.type === 'selfSigned'
      ? `thumbprint ${r.authentication.primaryThumbprint.slice(0, 16)}…`
      : 'ca';
  return [
    r.deviceId,
    r.status,
    auth,
    r.capabilities.iotEdge ? 'edge' : '-',
    r.parentId ? `parent=${r.parentId}` : '-',
  ].join('  ');
}

function messageLine(m: StoredMessage): string {
  const via = m.connectionDeviceId !== m.deviceId ? ` via ${m.connectionDeviceId}` : '';
  const bag = formatPropertyBag(m.properties);
  // JSON-quoted so a payload with newlines still takes one line.
  const body = m.payloadText !== undefined ? JSON.stringify(m.payloadText) : `base64:${m.payload}`;
  return `#${m.seq} ${m.receivedAt} ${m.deviceId}${via}${bag ? ` [${bag}]` : ''} ${body}`;
}
