import type { IncomingHttpHeaders } from 'node:http';
import { type RequestOptions, request } from 'node:https';
import { GatehouseError } from './errors.ts';

/** A whole HTTPS answer, read within the limits. */
export interface HttpsAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface ExchangeLimits {
  /** Names the peer at the start of every error message, e.g. "EST simpleenroll", "scope API h:p". */
  readonly what: string;
  /** Deadline for the whole exchange: connect, TLS, request and the complete answer. */
  readonly timeoutMs: number;
  /** Largest answer body read; a longer one fails with GH_ERR_PROTOCOL. */
  readonly maxBodyBytes: number;
  /** The one error a socket or TLS failure becomes. Default GH_ERR_UNREACHABLE with its message. */
  readonly onError?: (err: Error) => GatehouseError;
}

/**
 * One HTTPS request as every Gatehouse client makes it (scope API, EST, hub admin): the answer is
 * read whole or not at all, within a deadline and a body limit, and every failure is one
 * GatehouseError naming the peer. What the status and body mean is the caller's.
 */
export function httpsExchange(
  options: RequestOptions,
  body: string | Buffer | undefined,
  limits: ExchangeLimits,
): Promise<HttpsAnswer> {
  const { what, timeoutMs, maxBodyBytes } = limits;
  const onError =
    limits.onError ??
    ((err: Error) => new GatehouseError('GH_ERR_UNREACHABLE', `${what}: ${err.message}`, { cause: err }));
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: GatehouseError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      reject(err);
    };
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBodyBytes) {
          fail(new GatehouseError('GH_ERR_PROTOCOL', `${what}: response larger than ${maxBodyBytes} bytes`));
        } else chunks.push(chunk);
      });
      res.on('error', (err) => fail(onError(err)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    const deadline = setTimeout(
      () => fail(new GatehouseError('GH_ERR_UNREACHABLE', `${what}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('error', (err) => fail(onError(err)));
    req.end(body);
  });
}
