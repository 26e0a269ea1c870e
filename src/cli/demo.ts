import type { Command } from 'commander';
import { runDemo } from '../demo/run-demo.ts';
import { GatehouseError } from '../errors.ts';
import type { CliIo } from './io.ts';

/** `gatehouse demo`: what `npm start` runs. */
export function registerDemoCommand(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description('run the whole system on this machine: demo PKI, mock hub, one gateway and two sensors')
    .option('--dir <dir>', 'where hub and gateway data live', '.gatehouse')
    .option('--certs <dir>', 'where the demo PKI is made or reused', 'certs')
    .option('--json', 'print raw JSON log lines instead of the narrated view', false)
    .option('--ephemeral-ports', 'listen on any free ports instead of the fixed ones', false)
    .option('--duration <secs>', 'stop by itself after this many seconds')
    .action(
      async (opts: {
        dir: string;
        certs: string;
        json: boolean;
        ephemeralPorts: boolean;
        duration?: string;
      }) => {
        process.exitCode = await runDemo({
          workDir: opts.dir,
          certsDir: opts.certs,
          json: opts.json,
          ephemeralPorts: opts.ephemeralPorts,
          durationSecs: opts.duration === undefined ? undefined : parseDuration(opts.duration),
          io,
        });
      },
    );
}

function parseDuration(text: string): number {
  const secs = Number(text);
  if (!/^[0-9]{1,6}$/.test(text) || secs < 1) {
    throw new GatehouseError(
      'GH_ERR_USAGE',
      `--duration must be a whole number of seconds from 1, got "${text}"`,
    );
  }
  return secs;
}
