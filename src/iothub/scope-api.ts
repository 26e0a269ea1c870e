import { z } from 'zod';
import { deviceRecordSchema } from '../registry/device.ts';

/**
 * The device-scope API an edge device syncs its registry cache from, served by the mock hub and, for
 * child gateways, by a parent gateway. Paths follow IoT Hub's edge scope API; both sides import them
 * from here so they cannot drift.
 */
export const SCOPE_API_VERSION = '2020-09-30';

export const scopePaths = {
  /** All devices in the edge device's subtree, paged: `?pageSize=N&continuation=TOKEN`. */
  all: (edgeId: string): string =>
    `/devices/${encodeURIComponent(edgeId)}/modules/${encodeURIComponent('$edgeHub')}/devicesAndModulesInDeviceScope`,
  /** One device by id, if it is in the edge device's subtree. */
  one: (edgeId: string, targetDeviceId: string): string =>
    `/devices/${encodeURIComponent(edgeId)}/modules/${encodeURIComponent('$edgeHub')}/deviceAndModuleInDeviceScope?targetDeviceId=${encodeURIComponent(targetDeviceId)}`,
} as const;

/** Route patterns for servers (the `$` is matched literally, id segments are URL-decoded). */
export const SCOPE_ROUTE_ALL =
  /^\/devices\/([^/]+)\/modules\/(?:\$|%24)edgeHub\/devicesAndModulesInDeviceScope$/;
export const SCOPE_ROUTE_ONE =
  /^\/devices\/([^/]+)\/modules\/(?:\$|%24)edgeHub\/deviceAndModuleInDeviceScope$/;

export const DEFAULT_SCOPE_PAGE_SIZE = 500;
export const MAX_SCOPE_PAGE_SIZE = 1000;

export const scopeCaSchema = z
  .object({
    name: z.string().min(1).max(128),
    /** PEM of a CA certificate that was uploaded and verified by proof of possession. */
    certificatePem: z
      .string()
      .min(1)
      .max(64 * 1024),
    thumbprint: z.string().regex(/^[0-9A-F]{64}$/),
  })
  .strict();

export const scopePageSchema = z
  .object({
    /** The edge device the scope belongs to. */
    edgeDeviceId: z.string(),
    devices: z.array(deviceRecordSchema).max(MAX_SCOPE_PAGE_SIZE),
    /** Verified CA certificates (repeated on every page; small). */
    caCertificates: z.array(scopeCaSchema).max(1000),
    /** Path + query of the next page, or null on the last page. */
    continuationLink: z.string().max(2048).nullable(),
  })
  .strict();

export const scopeOneSchema = z
  .object({
    edgeDeviceId: z.string(),
    /** Null when the device does not exist or is outside the scope (the API does not say which). */
    device: deviceRecordSchema.nullable(),
    caCertificates: z.array(scopeCaSchema).max(1000),
  })
  .strict();

export type ScopePage = z.infer<typeof scopePageSchema>;
export type ScopeOne = z.infer<typeof scopeOneSchema>;
export type ScopeCa = z.infer<typeof scopeCaSchema>;
