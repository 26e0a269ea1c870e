import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { createGateway } from '../gateway.ts';
import { createLogger } from '../logger.ts';
import type { CliIo } from './io.ts';
import { untilStopSignal } from './signals.ts';

/**
 * `gatehouse start --config config.toml`: runs the gateway until SIGINT/SIGTERM; SIGHUP reloads the
 * Edge CA and server certificate (re-reading [edge_ca] files) without dropping connections.
 * Configuration errors end start-up with one line naming the key (exit 2, via the error catalogue).
 */
export function registerStartCommand(program: Command, io: CliIo): void {
  program
    .command('start')
    .description('run the gateway until SIGINT/SIGTERM (SIGHUP reloads its certificates)')
    .requiredOption('--config <file>', 'gateway configuration (TOML)')
    .action(async (o: { config: string }) => {
      const config = await loadConfig(o.config);
      const logger = createLogger({ level: config.gateway.logLevel });
      const gateway = await createGateway({ config, logger });
      io.out(`gateway ${config.provisioning.deviceId} listening: mqtts://${config.hostname}:${gateway.port}`);
      const onHup = (): void => {
        gateway.reloadSecureContext().then(
          (cert) => io.out(`certificates reloaded; server certificate serial ${cert.serialHex}`),
          (err: unknown) => io.err(`gatehouse: reload failed: ${(err as Error).message}`),
        );
        gateway.reloadIdentity().then(
          (changed) => changed && io.out('identity certificate reloaded; reconnecting upstream'),
          (err: unknown) =>
            io.err(`gatehouse: identity reload failed, keeping the current one: ${(err as Error).message}`),
        );
      };
      process.on('SIGHUP', onHup);
      try {
        await untilStopSignal();
      } finally {
        process.off('SIGHUP', onHup);
        await gateway.close();
      }
      io.out('gateway stopped');
    });
}
