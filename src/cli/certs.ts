import type { Command } from 'commander';
import type { CliIo } from './io.ts';

/** `gatehouse certs …`: the demo-PKI tool. */
export function registerCertsCommands(program: Command, _io: CliIo): void {
  program.command('certs').description('create and inspect the certificates of a Gatehouse PKI');
}
