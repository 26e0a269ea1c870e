import { GatehouseError } from '../errors.ts';
import { httpError, parseWith } from '../http-json.ts';
import type { Logger } from '../logger.ts';
import { DEVICE_ID_PATTERN, isDeviceId } from '../registry/device.ts';
import {
  ADMIN_PREFIX,
  addDeviceBodySchema,
  MAX_MESSAGES_PAGE,
  sendC2dBodySchema,
  updateDeviceBodySchema,
  uploadCaBodySchema,
  verifyCaBodySchema,
} from './api-schemas.ts';
import type { C2dDispatcher } from './c2d-dispatch.ts';
import type { C2dQueue } from './c2d-queue.ts';
import type { CaRegistry } from './cas.ts';
import type { DeviceRegistry } from './devices.ts';
import type { MessageStore } from './messages.ts';

export interface AdminServices {
  readonly devices: DeviceRegistry;
  readonly cas: CaRegistry;
  readonly messages: MessageStore;
  readonly c2d: C2dQueue;
  readonly dispatcher: C2dDispatcher;
  /** Called after a device was disabled, removed or given new credentials: its live connection must go. */
  readonly onDeviceRevoked: (deviceId: string) => void;
  readonly logger: Logger;
}

export interface AdminRequest {
  readonly method: string;
  /** Path below ADMIN_PREFIX, still URL-encoded. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Reads and parses the JSON body (only routes that take one call it). */
  readonly body: () => Promise<unknown>;
}

export interface ApiResult {
  readonly status: number;
  readonly body?: unknown;
}

type Handler = (req: AdminRequest, params: readonly string[]) => Promise<ApiResult> | ApiResult;

/** The admin API: one table of routes over the hub's services, every body validated strictly. */
export function createAdminRoutes(s: AdminServices): (req: AdminRequest) => Promise<ApiResult> {
  const routes: ReadonlyArray<readonly [string, RegExp, Handler]> = [
    ['GET', /^\/devices$/, () => ({ status: 200, body: s.devices.list() })],
    [
      'POST',
      /^\/devices$/,
      async (req) => {
        const input = parseWith(addDeviceBodySchema, await req.body(), 'device');
        const record = s.devices.add(input);
        s.logger.info({ deviceId: record.deviceId, auth: record.authentication.type }, 'device added');
        return { status: 201, body: record };
      },
    ],
    [
      'GET',
      /^\/devices\/([^/]+)$/,
      (_req, [id]) => ({ status: 200, body: s.devices.get(deviceIdParam(id)) }),
    ],
    [
      'PATCH',
      /^\/devices\/([^/]+)$/,
      async (req, [id]) => {
        const deviceId = deviceIdParam(id);
        const patch = parseWith(updateDeviceBodySchema, await req.body(), 'device update');
        const before = s.devices.get(deviceId);
        const after = s.devices.update(deviceId, patch);
        const revoked =
          (before.status === 'enabled' && after.status === 'disabled') ||
          JSON.stringify(before.authentication) !== JSON.stringify(after.authentication);
        if (after.etag !== before.etag) s.logger.info({ deviceId, revoked }, 'device updated');
        if (revoked) s.onDeviceRevoked(deviceId);
        return { status: 200, body: after };
      },
    ],
    [
      'DELETE',
      /^\/devices\/([^/]+)$/,
      (_req, [id]) => {
        const deviceId = deviceIdParam(id);
        s.devices.remove(deviceId);
        s.logger.info({ deviceId }, 'device removed');
        s.onDeviceRevoked(deviceId);
        return { status: 204 };
      },
    ],
    [
      'POST',
      /^\/devices\/([^/]+)\/c2d$/,
      async (req, [id]) => {
        const deviceId = deviceIdParam(id);
        const body = parseWith(sendC2dBodySchema, await req.body(), 'cloud-to-device message');
        s.devices.get(deviceId);
        const result = s.c2d.enqueue(deviceId, Buffer.from(body.payload, 'base64'), body.properties ?? {});
        s.dispatcher.notify(deviceId);
        return { status: 201, body: result };
      },
    ],
    ['GET', /^\/cas$/, () => ({ status: 200, body: s.cas.list() })],
    [
      'POST',
      /^\/cas$/,
      async (req) => {
        const body = parseWith(uploadCaBodySchema, await req.body(), 'CA upload');
        const result = s.cas.upload(body.name, body.certificatePem);
        s.logger.info({ name: body.name }, 'CA certificate uploaded');
        return { status: 201, body: result };
      },
    ],
    [
      'POST',
      /^\/cas\/([^/]+)\/verify$/,
      async (req, [name]) => {
        const body = parseWith(verifyCaBodySchema, await req.body(), 'CA verification');
        const result = s.cas.verify(decodeParam(name), body.certificatePem);
        s.logger.info({ name: result.name }, 'CA certificate verified');
        return { status: 200, body: result };
      },
    ],
    ['GET', /^\/messages$/, (req) => ({ status: 200, body: s.messages.query(messageQuery(req.query)) })],
  ];

  return async (req) => {
    let pathMatched = false;
    for (const [method, pattern, handler] of routes) {
      const m = pattern.exec(req.path);
      if (!m) continue;
      pathMatched = true;
      if (method === req.method) return handler(req, m.slice(1) as string[]);
    }
    if (pathMatched)
      throw httpError(405, 'GH_ERR_INPUT', `${req.method} is not allowed on ${ADMIN_PREFIX}${req.path}`);
    throw httpError(404, 'GH_ERR_NOT_FOUND', `no such admin route: ${ADMIN_PREFIX}${req.path.slice(0, 200)}`);
  };
}

function decodeParam(raw: string | undefined): string {
  try {
    return decodeURIComponent(raw ?? '');
  } catch {
    throw new GatehouseError('GH_ERR_INPUT', 'malformed percent-encoding in the path');
  }
}

function deviceIdParam(raw: string | undefined): string {
  const id = decodeParam(raw);
  if (!DEVICE_ID_PATTERN.test(id))
    throw new GatehouseError('GH_ERR_INPUT', `"${id.slice(0, 140)}" is not a valid device id`);
  return id;
}

function messageQuery(q: URLSearchParams): { deviceId?: string; after?: number; limit?: number } {
  for (const key of q.keys()) {
    if (!['deviceId', 'after', 'limit'].includes(key)) {
      throw new GatehouseError('GH_ERR_INPUT', `unknown query parameter "${key.slice(0, 40)}"`);
    }
  }
  const deviceId = q.get('deviceId') ?? undefined;
  if (deviceId !== undefined && !isDeviceId(deviceId)) {
    throw new GatehouseError('GH_ERR_INPUT', 'deviceId is not a valid device id');
  }
  const int = (name: string, min: number, max: number): number | undefined => {
    const raw = q.get(name);
    if (raw === null) return undefined;
    const n = Number(raw);
    if (!/^\d{1,16}$/.test(raw) || n < min || n > max) {
      throw new GatehouseError('GH_ERR_INPUT', `${name} must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
  const after = int('after', 0, Number.MAX_SAFE_INTEGER);
  const limit = int('limit', 1, MAX_MESSAGES_PAGE);
  return {
    ...(deviceId !== undefined ? { deviceId } : {}),
    ...(after !== undefined ? { after } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
}
