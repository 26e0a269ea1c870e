import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { type ErrorCode, GatehouseError } from './errors.ts';

/** A GatehouseError that also says which HTTP status to answer with (when the code alone does not). */
export function httpError(status: number, code: ErrorCode, message: string): GatehouseError {
  return new GatehouseError(code, message, { details: { httpStatus: status } });
}

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  GH_ERR_USAGE: 400,
  GH_ERR_INPUT: 400,
  GH_ERR_PEM: 400,
  GH_ERR_PROFILE: 400,
  GH_ERR_CHAIN: 400,
  GH_ERR_SCOPE: 400,
  GH_ERR_VERIFICATION: 400,
  GH_ERR_UNAUTHORIZED: 401,
  GH_ERR_NOT_FOUND: 404,
  GH_ERR_CONFLICT: 409,
  GH_ERR_STORE_FULL: 429,
};

export function statusOf(err: GatehouseError): number {
  const explicit = err.details?.httpStatus;
  return typeof explicit === 'number' ? explicit : (STATUS_BY_CODE[err.code] ?? 500);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  if (status === 204) {
    res.writeHead(204, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'cache-control': 'no-store',
      ...headers,
    })
    .end(text);
}

export function sendError(
  res: ServerResponse,
  err: GatehouseError,
  headers: Record<string, string> = {},
): void {
  const reason = err.details?.reason;
  sendJson(
    res,
    statusOf(err),
    { code: err.code, message: err.message, ...(typeof reason === 'string' ? { reason } : {}) },
    headers,
  );
}

/** Body bytes read past the limit before giving up on the connection (lets the client see the 413). */
const DRAIN_FACTOR = 16;

/**
 * Reads a JSON request body, in this order of refusal: larger than `maxBytes` → 413, not
 * `application/json` → 415, not parseable → 400. An oversize body is drained (bounded) rather than
 * reset so the client reads the answer instead of a broken pipe.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? '0');
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else if (size > maxBytes * DRAIN_FACTOR || declared > maxBytes * DRAIN_FACTOR) {
        req.pause();
        resolve();
      }
    });
    req.on('end', resolve);
    req.on('error', reject);
  });
  if (size > maxBytes || declared > maxBytes) {
    throw httpError(413, 'GH_ERR_INPUT', `request body is larger than ${maxBytes} bytes`);
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw httpError(415, 'GH_ERR_INPUT', `content-type must be application/json, got "${type || 'none'}"`);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw httpError(400, 'GH_ERR_INPUT', 'request body is not valid JSON');
  }
}

/** Validates with a strict schema; the error names the first offending field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? issue.path.join('.') : '';
  const message =
    issue?.code === 'unrecognized_keys'
      ? `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`
      : `${path ? `${path}: ` : ''}${issue?.message ?? 'invalid'}`;
  throw httpError(400, 'GH_ERR_INPUT', `${what}: ${message}`);
}
