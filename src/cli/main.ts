import { Command, CommanderError } from 'commander';
import { GatehouseError, toGatehouseError } from '../errors.ts';
import { registerCertsCommands } from './certs.ts';
import { registerDemoCommand } from './demo.ts';
import { registerHubCommands } from './hub.ts';
import { type CliIo, processIo } from './io.ts';
import { registerStartCommand } from './start.ts';

/**
 * The `gatehouse` command. Returns the exit status instead of exiting so tests can call it in-process.
 * Every failure ends as one line on stderr: `gatehouse: <message> [GH_ERR_…]`.
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = new Command('gatehouse')
    .description('MQTT-over-TLS edge gateway: Edge CA, mTLS device authentication, offline registry cache')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError(false);
  registerCertsCommands(program, io);
  registerHubCommands(program, io);
  registerStartCommand(program, io);
  registerDemoCommand(program, io);

  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    // Help and version exit through here with code 0; commander already printed them.
    if (err.exitCode === 0) return 0;
    return 2;
  }
  const ge = err instanceof GatehouseError ? err : toGatehouseError(err);
  io.err(`gatehouse: ${ge.message} [${ge.code}]`);
  if (ge.code === 'GH_ERR_INTERNAL' && process.env.GATEHOUSE_DEBUG) io.err(String((err as Error).stack));
  return ge.exitCode;
}
