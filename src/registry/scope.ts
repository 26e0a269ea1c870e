import type { DeviceRecord } from './device.ts';
import { MAX_EDGE_DEPTH } from './device.ts';

/**
 * Subtree questions over a set of device records linked by `parentId`. Used by the hub (whole
 * registry) and by gateways (their cached scope). Walks are bounded by MAX_EDGE_DEPTH + 1 so a
 * corrupt or hostile record set with a cycle cannot loop.
 */
export function isInSubtree(
  lookup: (id: string) => DeviceRecord | undefined,
  rootId: string,
  deviceId: string,
): boolean {
  let current = lookup(deviceId);
  for (let hops = 0; current && hops <= MAX_EDGE_DEPTH + 1; hops++) {
    if (current.parentId === undefined) return false;
    if (current.parentId === rootId) return true;
    current = lookup(current.parentId);
  }
  return false;
}

/** Edge layers above and including `deviceId` (1 = an edge device with no parent); undefined on a cycle. */
export function edgeDepth(
  lookup: (id: string) => DeviceRecord | undefined,
  deviceId: string,
): number | undefined {
  let depth = 0;
  let current = lookup(deviceId);
  while (current) {
    if (current.capabilities.iotEdge) depth++;
    if (depth > MAX_EDGE_DEPTH + 1) return undefined;
    if (current.parentId === undefined) return depth;
    current = lookup(current.parentId);
  }
  return depth;
}
