import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { GatehouseError, toGatehouseError } from '../errors.ts';
import { sendJson } from '../http-json.ts';
import type { Logger } from '../logger.ts';
import {
  type CertInfo,
  exportPrivateKeyPem,
  generateKeyPair,
  type Issuer,
  issueCertificate,
} from '../pki/index.ts';
import { decideServerCert, type WorkloadPolicy } from './policy.ts';

/** Socket file name inside the data directory. */
export const WORKLOAD_SOCKET = 'workload.sock';
const MAX_BODY_BYTES = 16 * 1024;

/** IoT Edge's workload API paths: POST /modules/{name}/genid/{genid}/certificate/server, GET /trust-bundle. */
const SERVER_CERT_ROUTE =
  /^\/modules\/([A-Za-z0-9][A-Za-z0-9._-]{0,63})\/genid\/([A-Za-z0-9+/=_-]{1,128})\/certificate\/server$/;

const requestSchema = z
  .object({
    commonName: z.string().min(1).max(64),
    expiration: z.string().max(64),
    subjectAltNames: z.array(z.string().max(253)).max(16).optional(),
  })
  .strict();

export interface WorkloadServerOptions {
  /** Path of the unix socket (DATA/workload.sock). A stale socket there is replaced. */
  readonly socketPath: string;
  readonly policy: WorkloadPolicy;
  /** The current Edge CA (it may be renewed while the server runs) and its chain, root excluded. */
  readonly edgeCa: () => { readonly issuer: Issuer; readonly chain: readonly CertInfo[] };
  /** PEM of the roots modules should trust (the Edge CA's root, plus the upstream trust bundle). */
  readonly trustBundle: () => Promise<string>;
  readonly logger: Logger;
  readonly now?: () => number;
}

export interface WorkloadServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

/**
 * The workload API for co-located modules over a unix socket (mode 0660: the gateway's user and
 * group; no network exposure). A module asks for a server certificate from the Edge CA for names
 * within `[gateway.workload] allowed_names`; the key is generated here and returned with it, as IoT
 * Edge's workload API does. Refusals are JSON `{code, reason, message}` with 400/403/404/405/413/415.
 */
export async function startWorkloadServer(o: WorkloadServerOptions): Promise<WorkloadServer> {
  const log = o.logger.child({ component: 'workload' });
  const now = o.now ?? Date.now;
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => fail(res, err));
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const path = raw.split('?')[0] ?? '/';
    if (path === '/trust-bundle') {
      if (req.method !== 'GET')
        throw refusal(405, 'GH_ERR_INPUT', 'method', '/trust-bundle answers GET only');
      sendJson(res, 200, { certificate: await o.trustBundle() });
      return;
    }
    const route = SERVER_CERT_ROUTE.exec(path);
    if (!route) throw refusal(404, 'GH_ERR_NOT_FOUND', 'no-route', `no such route: ${path.slice(0, 120)}`);
    if (req.method !== 'POST')
      throw refusal(405, 'GH_ERR_INPUT', 'method', 'certificate/server answers POST only');
    const parsed = requestSchema.safeParse(await readJson(req));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      throw refusal(
        400,
        'GH_ERR_INPUT',
        'malformed-body',
        `request body: ${where}${issue?.message ?? 'invalid'}`,
      );
    }
    const body = parsed.data;
    const at = now();
    const decision = decideServerCert(
      {
        commonName: body.commonName,
        subjectAltNames: body.subjectAltNames ?? [],
        expiration: Date.parse(body.expiration),
      },
      o.policy,
      at,
    );
    const module = route[1];
    if (!decision.ok) {
      log.warn({ module, reason: decision.reason, detail: decision.detail }, 'workload certificate refused');
      const status = decision.reason === 'name-not-allowed' ? 403 : 400;
      throw refusal(
        status,
        status === 403 ? 'GH_ERR_UNAUTHORIZED' : 'GH_ERR_INPUT',
        decision.reason,
        decision.detail,
      );
    }
    const ca = o.edgeCa();
    const keys = await generateKeyPair('ec-p256');
    const [commonName, ...extraNames] = decision.names as [string, ...string[]];
    const cert = await issueCertificate({
      profile: 'server',
      commonName,
      subjectKeys: keys,
      issuer: ca.issuer,
      days: decision.days,
      now: new Date(at),
      extraNames,
    });
    log.info({ module, genid: route[2], commonName, serial: cert.serialHex }, 'workload certificate issued');
    sendJson(res, 201, {
      privateKey: { type: 'key', bytes: await exportPrivateKeyPem(keys.privateKey) },
      certificate: [cert, ...ca.chain].map((c) => c.pem).join(''),
      expiration: new Date(cert.notAfter).toISOString(),
    });
  }

  function fail(res: ServerResponse, err: unknown): void {
    const ge = err instanceof GatehouseError ? err : toGatehouseError(err);
    const explicit = ge.details?.httpStatus;
    const status = typeof explicit === 'number' ? explicit : ge.code === 'GH_ERR_PROFILE' ? 400 : 500;
    if (status >= 500) log.error({ err }, 'workload request failed');
    const reason = typeof ge.details?.reason === 'string' ? ge.details.reason : undefined;
    const message = status >= 500 ? 'internal error; see the gateway log' : ge.message;
    sendJson(
      res,
      status,
      { code: ge.code, message, ...(reason ? { reason } : {}) },
      status === 413 ? { connection: 'close' } : {},
    );
  }

  await removeStaleSocket(o.socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The data directory is 0700, so the moment before chmod exposes nothing.
  await chmod(o.socketPath, 0o660);
  log.info({ socket: o.socketPath }, 'workload API listening');
  return {
    socketPath: o.socketPath,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function refusal(
  status: number,
  code: 'GH_ERR_INPUT' | 'GH_ERR_NOT_FOUND' | 'GH_ERR_UNAUTHORIZED',
  reason: string,
  message: string,
): GatehouseError {
  return new GatehouseError(code, message, { details: { httpStatus: status, reason } });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw refusal(
      415,
      'GH_ERR_INPUT',
      'content-type',
      `content-type must be application/json, got "${type || 'none'}"`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw refusal(413, 'GH_ERR_INPUT', 'too-large', `request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw refusal(400, 'GH_ERR_INPUT', 'malformed-body', 'request body is not valid JSON');
  }
}

/** A socket left by a crashed gateway blocks listen(); only a socket is removed, never a regular file. */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    const info = await lstat(path);
    if (!info.isSocket()) {
      throw new GatehouseError(
        'GH_ERR_FILE_EXISTS',
        `${path} exists and is not a socket; refusing to replace it`,
      );
    }
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
