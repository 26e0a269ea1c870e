import { z } from 'zod';
import { DEVICE_ID_PATTERN, deviceAuthenticationSchema } from '../registry/device.ts';

/**
 * The admin API's wire contract, shared by the hub's routes and its client so they cannot drift.
 * Request schemas are strict: an unknown field is an error, never silently ignored.
 */
export const ADMIN_PREFIX = '/admin/v1';

export const adminPaths = {
  devices: `${ADMIN_PREFIX}/devices`,
  device: (id: string): string => `${ADMIN_PREFIX}/devices/${encodeURIComponent(id)}`,
  c2d: (id: string): string => `${ADMIN_PREFIX}/devices/${encodeURIComponent(id)}/c2d`,
  cas: `${ADMIN_PREFIX}/cas`,
  caVerify: (name: string): string => `${ADMIN_PREFIX}/cas/${encodeURIComponent(name)}/verify`,
  messages: `${ADMIN_PREFIX}/messages`,
} as const;

/** Largest request body the API reads; larger ones are refused with 413 before parsing. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Most telemetry messages one `messages` call returns. */
export const MAX_MESSAGES_PAGE = 1000;
export const DEFAULT_MESSAGES_PAGE = 100;

const deviceId = z.string().regex(DEVICE_ID_PATTERN, 'not a valid device id');
const pem = z.string().min(1).max(MAX_BODY_BYTES);

export const addDeviceBodySchema = z
  .object({
    deviceId,
    auth: deviceAuthenticationSchema,
    edge: z.boolean().optional(),
    parentId: deviceId.optional(),
    disabled: z.boolean().optional(),
  })
  .strict();

export const updateDeviceBodySchema = z
  .object({
    status: z.enum(['enabled', 'disabled']).optional(),
    auth: deviceAuthenticationSchema.optional(),
    parentId: deviceId.nullable().optional(),
  })
  .strict();

export const uploadCaBodySchema = z
  .object({ name: z.string().min(1).max(128), certificatePem: pem })
  .strict();
export const verifyCaBodySchema = z.object({ certificatePem: pem }).strict();

export const sendC2dBodySchema = z
  .object({
    /** Base64 of the payload bytes. */
    payload: z
      .string()
      .max(MAX_BODY_BYTES)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64'),
    properties: z.record(z.string().min(1).max(256), z.string().max(1024)).optional(),
  })
  .strict();

export const caSummarySchema = z
  .object({
    name: z.string(),
    thumbprint: z.string(),
    verified: z.boolean(),
    subject: z.string(),
    notAfter: z.string(),
  })
  .strict();

export const uploadCaResultSchema = z
  .object({ name: z.string(), verificationCode: z.string(), verified: z.literal(false) })
  .strict();
export const verifyCaResultSchema = z.object({ name: z.string(), verified: z.literal(true) }).strict();
export const c2dResultSchema = z.object({ id: z.string() }).strict();

export const storedMessageSchema = z
  .object({
    seq: z.number().int().positive(),
    deviceId: z.string(),
    connectionDeviceId: z.string(),
    properties: z.record(z.string(), z.string()),
    /** Base64 of the payload bytes. */
    payload: z.string(),
    /** The payload as text, when it is valid UTF-8. */
    payloadText: z.string().optional(),
    receivedAt: z.string(),
  })
  .strict();

export type StoredMessage = z.infer<typeof storedMessageSchema>;
export type CaSummaryWire = z.infer<typeof caSummarySchema>;

/** The error body every non-2xx response carries; `reason` is the refusal's reason code when it has one. */
export const errorBodySchema = z
  .object({ code: z.string(), message: z.string(), reason: z.string().max(64).optional() })
  .strict();
