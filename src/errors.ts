/**
 * The one catalogue of Gatehouse errors. Every error thrown across a module boundary is a
 * GatehouseError with a stable `code`, so callers and tests branch on codes, never on message text.
 * The CLI maps each code's `exit` to the process exit status.
 */
export const ErrorCodes = {
  GH_ERR_USAGE: { exit: 2, summary: 'bad command-line usage' },
  GH_ERR_CONFIG: { exit: 2, summary: 'invalid configuration' },
  GH_ERR_INPUT: { exit: 2, summary: 'invalid input' },
  GH_ERR_PEM: { exit: 2, summary: 'malformed PEM or certificate' },
  GH_ERR_KEY_MISMATCH: { exit: 2, summary: 'private key does not match certificate' },
  GH_ERR_FILE_EXISTS: { exit: 2, summary: 'file exists' },
  GH_ERR_FILE_MISSING: { exit: 2, summary: 'file missing or unreadable' },
  GH_ERR_ISSUER: { exit: 2, summary: 'issuer missing or unusable' },
  GH_ERR_PROFILE: { exit: 2, summary: 'certificate profile rejected' },
  GH_ERR_CHAIN: { exit: 2, summary: 'certificate chain invalid' },
  GH_ERR_NOT_FOUND: { exit: 2, summary: 'not found' },
  GH_ERR_CONFLICT: { exit: 2, summary: 'conflict with existing state' },
  GH_ERR_SCOPE: { exit: 2, summary: 'device scope rule violated' },
  GH_ERR_VERIFICATION: { exit: 2, summary: 'proof of possession refused' },
  GH_ERR_UNAUTHORIZED: { exit: 2, summary: 'not authorized' },
  GH_ERR_ADDRESS_IN_USE: { exit: 3, summary: 'address already in use' },
  GH_ERR_UNREACHABLE: { exit: 3, summary: 'peer unreachable' },
  GH_ERR_PROTOCOL: { exit: 3, summary: 'unexpected response from peer' },
  GH_ERR_STORE: { exit: 3, summary: 'storage failure' },
  GH_ERR_STORE_FULL: { exit: 3, summary: 'store full' },
  GH_ERR_INTERNAL: { exit: 1, summary: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  /** Extra structured facts for logs (never key material). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.details = options?.details ? Object.freeze({ ...options.details }) : undefined;
  }

  get exitCode(): number {
    return ErrorCodes[this.code].exit;
  }
}

export function isGatehouseError(err: unknown, code?: ErrorCode): err is GatehouseError {
  return err instanceof GatehouseError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a GatehouseError, keeping the original as `cause`. */
export function toGatehouseError(err: unknown, code: ErrorCode = 'GH_ERR_INTERNAL'): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE') {
    return new GatehouseError('GH_ERR_ADDRESS_IN_USE', message, { cause: err });
  }
  return new GatehouseError(code, message, { cause: err });
}
