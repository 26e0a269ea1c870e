import type { z } from 'zod';
import { GatehouseError } from '../errors.ts';
import { type ScopeOne, type ScopePage, scopeOneSchema, scopePageSchema } from '../iothub/scope-api.ts';

/**
 * Checks what upstream answered against the scope API contract before anything is trusted: the zod
 * schema, and that the answer is about the edge device (and target) that asked. Used on what the
 * client receives and again by the cache on what any ScopeSource returns.
 */
export function validateScopePage(value: unknown, edgeDeviceId: string): ScopePage {
  const page = parseOrThrow(scopePageSchema, value, 'scope page');
  if (page.edgeDeviceId !== edgeDeviceId) {
    throw new GatehouseError(
      'GH_ERR_PROTOCOL',
      `scope page: for edge device "${clip(page.edgeDeviceId)}", not "${edgeDeviceId}"`,
    );
  }
  return page;
}

export function validateScopeOne(value: unknown, edgeDeviceId: string, deviceId: string): ScopeOne {
  const one = parseOrThrow(scopeOneSchema, value, 'scope device');
  if (one.edgeDeviceId !== edgeDeviceId) {
    throw new GatehouseError(
      'GH_ERR_PROTOCOL',
      `scope device: for edge device "${clip(one.edgeDeviceId)}", not "${edgeDeviceId}"`,
    );
  }
  if (one.device !== null && one.device.deviceId !== deviceId) {
    throw new GatehouseError(
      'GH_ERR_PROTOCOL',
      `scope device: asked for "${deviceId}", got "${one.device.deviceId}"`,
    );
  }
  return one;
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new GatehouseError(
    'GH_ERR_PROTOCOL',
    `${what}: malformed response (${where}${issue?.message ?? 'invalid'})`,
    {
      cause: result.error,
    },
  );
}

/** Upstream text in our messages is bounded and printable, so a hostile peer cannot flood logs. */
export function clip(text: string, max = 80): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}
