import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

/** Paths that may carry key material or PEM bodies; pino replaces them before anything is written. */
export const REDACT_PATHS = [
  'key',
  'pk',
  'privateKey',
  'pem',
  'keyPem',
  'certPem',
  'password',
  'token',
  '*.key',
  '*.pk',
  '*.privateKey',
  '*.pem',
  '*.keyPem',
  '*.certPem',
  '*.password',
  '*.token',
  'headers.authorization',
];

export interface CreateLoggerOptions {
  /** Minimum level. Default: `info`, or `LOG_LEVEL` when the caller passes it through. */
  level?: LoggerOptions['level'];
  /** Where lines go. Default: stdout. Tests pass a sink to read the JSON lines back. */
  destination?: DestinationStream;
  /** Base bindings added to every line. Default: none. */
  base?: Record<string, unknown>;
}

/** The one root logger; components take `logger.child({ component })`. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: options.base ?? null,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A logger that writes nothing, for library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
