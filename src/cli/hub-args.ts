import { type Command, InvalidArgumentError } from 'commander';
import { GatehouseError } from '../errors.ts';
import { DEVICE_ID_PATTERN } from '../registry/device.ts';

// Argument checks and helpers shared by the `gatehouse hub …` commands.

export function assertDeviceId(id: string): void {
  if (!DEVICE_ID_PATTERN.test(id)) {
    throw new GatehouseError(
      'GH_ERR_INPUT',
      `"${id.slice(0, 140)}" is not a valid device id (IoT Hub rules, 1-128 characters)`,
    );
  }
}

/** Adds the `--data DIR` every admin command takes to find the running hub. */
export function withData(cmd: Command): Command {
  return cmd.requiredOption('--data <dir>', 'data directory of the running hub');
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65_535)
    throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return n;
}

export function parseLevel(value: string): string {
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(value)) {
    throw new InvalidArgumentError('must be one of fatal, error, warn, info, debug, trace, silent');
  }
  return value;
}
