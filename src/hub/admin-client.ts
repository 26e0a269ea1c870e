import { z } from 'zod';
import { type ErrorCode, ErrorCodes, GatehouseError } from '../errors.ts';
import { httpsExchange } from '../https-exchange.ts';
import { readTextFile } from '../pki/store.ts';
import { type DeviceAuthentication, type DeviceRecord, deviceRecordSchema } from '../registry/device.ts';
import {
  adminPaths,
  c2dResultSchema,
  caSummarySchema,
  errorBodySchema,
  type StoredMessage,
  storedMessageSchema,
  uploadCaResultSchema,
  verifyCaResultSchema,
} from './api-schemas.ts';
import { hubFiles, readAdminToken, readHubInfo } from './hub-file.ts';

export type { StoredMessage } from './api-schemas.ts';

export interface HubAdminClient {
  addDevice(input: {
    deviceId: string;
    auth: DeviceAuthentication;
    edge?: boolean;
    parentId?: string;
    disabled?: boolean;
  }): Promise<DeviceRecord>;
  /** Rejects with GH_ERR_NOT_FOUND when absent. */
  getDevice(id: string): Promise<DeviceRecord>;
  listDevices(): Promise<DeviceRecord[]>;
  updateDevice(
    id: string,
    patch: { status?: 'enabled' | 'disabled'; auth?: DeviceAuthentication; parentId?: string | null },
  ): Promise<DeviceRecord>;
  removeDevice(id: string): Promise<void>;
  uploadCa(
    name: string,
    certPem: string,
  ): Promise<{ name: string; verificationCode: string; verified: false }>;
  verifyCa(name: string, verificationCertPem: string): Promise<{ name: string; verified: true }>;
  listCas(): Promise<
    Array<{ name: string; thumbprint: string; verified: boolean; subject: string; notAfter: string }>
  >;
  /** Ascending by seq; `after` is the last seq already seen. */
  messages(q?: { deviceId?: string; after?: number; limit?: number }): Promise<StoredMessage[]>;
  sendC2d(
    deviceId: string,
    payload: string | Buffer,
    properties?: Record<string, string>,
  ): Promise<{ id: string }>;
}

export interface HubAdminClientOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  /** The hub's root CA: the server certificate is verified against it. */
  readonly caPem: string;
  /** Name to verify the server certificate against. Default: `host`. */
  readonly servername?: string;
  /** Deadline for each call: connect, TLS, request and the whole answer. Default 10 s. */
  readonly timeoutMs?: number;
}

/** Largest response the client reads (a full page of messages with large payloads fits). */
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/** An HTTPS client of the hub's admin API. Every answer is validated; hub errors come back as the same GH_ERR code. */
export function createHubAdminClient(o: HubAdminClientOptions): HubAdminClient {
  const call = async <T extends z.ZodType>(method: string, path: string, schema: T, body?: unknown) => {
    const parsed = schema.safeParse(await send(o, method, path, body));
    if (!parsed.success) {
      throw new GatehouseError(
        'GH_ERR_PROTOCOL',
        `hub admin API: unexpected answer to ${method} ${path.split('?')[0]}`,
      );
    }
    return parsed.data as z.infer<T>;
  };
  const enc = encodeURIComponent;
  return {
    addDevice: (input) => call('POST', adminPaths.devices, deviceRecordSchema, input),
    getDevice: (id) => call('GET', adminPaths.device(id), deviceRecordSchema),
    listDevices: () => call('GET', adminPaths.devices, z.array(deviceRecordSchema)),
    updateDevice: (id, patch) => call('PATCH', adminPaths.device(id), deviceRecordSchema, patch),
    removeDevice: async (id) => {
      await send(o, 'DELETE', adminPaths.device(id));
    },
    uploadCa: (name, certificatePem) =>
      call('POST', adminPaths.cas, uploadCaResultSchema, { name, certificatePem }),
    verifyCa: (name, certificatePem) =>
      call('POST', adminPaths.caVerify(name), verifyCaResultSchema, { certificatePem }),
    listCas: () => call('GET', adminPaths.cas, z.array(caSummarySchema)),
    messages: (q = {}) => {
      const params = [
        q.deviceId !== undefined ? `deviceId=${enc(q.deviceId)}` : '',
        q.after !== undefined ? `after=${enc(String(q.after))}` : '',
        q.limit !== undefined ? `limit=${enc(String(q.limit))}` : '',
      ].filter(Boolean);
      const path = params.length ? `${adminPaths.messages}?${params.join('&')}` : adminPaths.messages;
      return call('GET', path, z.array(storedMessageSchema));
    },
    sendC2d: (deviceId, payload, properties) =>
      call('POST', adminPaths.c2d(deviceId), c2dResultSchema, {
        payload: (typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload).toString('base64'),
        ...(properties ? { properties } : {}),
      }),
  };
}

/** The admin client for the hub running on `dataDir` (reads hub.json, the token and the root CA there). */
export async function connectHubAdmin(dataDir: string): Promise<HubAdminClient> {
  const info = await readHubInfo(dataDir);
  const token = await readAdminToken(dataDir);
  const caPem = await readTextFile(hubFiles(dataDir).rootCa, 'hub root CA');
  return createHubAdminClient({
    host: info.host,
    port: info.apiPort,
    token,
    caPem,
    servername: info.hostname,
  });
}

async function send(
  o: HubAdminClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const where = `hub admin API at ${o.host}:${o.port}`;
  const res = await httpsExchange(
    {
      host: o.host,
      port: o.port,
      method,
      path,
      ca: o.caPem,
      servername: o.servername ?? o.host,
      // A fresh connection per call: the CLI makes one call, and no idle socket outlives the hub.
      agent: false,
      headers: {
        authorization: `Bearer ${o.token}`,
        accept: 'application/json',
        ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
      },
    },
    payload,
    { what: where, timeoutMs: o.timeoutMs ?? 10_000, maxBodyBytes: MAX_RESPONSE_BYTES },
  );
  const status = res.status;
  const text = res.body.toString('utf8');
  if (status === 204) return undefined;
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new GatehouseError('GH_ERR_PROTOCOL', `${where}: answered ${status} with a body that is not JSON`);
  }
  if (status >= 200 && status < 300) return json;
  const err = errorBodySchema.safeParse(json);
  if (!err.success)
    throw new GatehouseError('GH_ERR_PROTOCOL', `${where}: answered ${status} without an error body`);
  const code: ErrorCode = err.data.code in ErrorCodes ? (err.data.code as ErrorCode) : 'GH_ERR_PROTOCOL';
  const reason = err.data.reason;
  throw new GatehouseError(code, err.data.message, {
    details: { httpStatus: status, ...(reason !== undefined ? { reason } : {}) },
  });
}
