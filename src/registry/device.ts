import { z } from 'zod';
import { normalizeThumbprint } from '../pki/thumbprint.ts';

/**
 * IoT Hub's device id rule: up to 128 ASCII letters, digits and `- . % _ * ? ! ( ) , : = @ $ '`.
 * MQTT wildcards and `/` are outside it, so an id is always safe inside a topic.
 */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;

export function isDeviceId(value: string | undefined): value is string {
  return value !== undefined && DEVICE_ID_PATTERN.test(value);
}

/** IoT Hub allows at most five layers of edge devices. */
export const MAX_EDGE_DEPTH = 5;

const thumbprintSchema = z.string().transform((v, ctx) => {
  const n = normalizeThumbprint(v);
  if (!n) ctx.addIssue({ code: 'custom', message: 'not a SHA-1 or SHA-256 thumbprint' });
  return n ?? '';
});

export const deviceAuthenticationSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('selfSigned'),
      primaryThumbprint: thumbprintSchema,
      secondaryThumbprint: thumbprintSchema.optional(),
    })
    .strict(),
  z.object({ type: z.literal('certificateAuthority') }).strict(),
]);

/** A device as the hub's registry holds it and as the scope API serves it. */
export const deviceRecordSchema = z
  .object({
    deviceId: z.string().regex(DEVICE_ID_PATTERN, 'not a valid device id'),
    status: z.enum(['enabled', 'disabled']),
    authentication: deviceAuthenticationSchema,
    capabilities: z.object({ iotEdge: z.boolean() }).strict(),
    /** IoT Hub's deviceScope: the parent edge device, if any. */
    parentId: z.string().regex(DEVICE_ID_PATTERN).optional(),
    /** Changes on every update; IoT Hub's etag. */
    etag: z.string().min(1).max(64),
    generation: z.number().int().nonnegative(),
    lastUpdated: z.string().datetime(),
  })
  .strict();

export type DeviceRecord = z.infer<typeof deviceRecordSchema>;
export type DeviceAuthentication = z.infer<typeof deviceAuthenticationSchema>;
