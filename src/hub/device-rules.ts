import { type DeviceRecord, MAX_EDGE_DEPTH } from '../registry/device.ts';
import { edgeDepth } from '../registry/scope.ts';

export type ParentRefusal = 'unknown-parent' | 'parent-not-edge' | 'self-parent' | 'cycle' | 'too-deep';

export type ParentDecision =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: ParentRefusal; readonly detail: string };

export interface ParentCheck {
  readonly lookup: (id: string) => DeviceRecord | undefined;
  /** Ids whose parentId is `id`. */
  readonly children: (id: string) => readonly string[];
  /** The device being created or re-parented. */
  readonly deviceId: string;
  readonly iotEdge: boolean;
  /** The proposed parent. */
  readonly parentId: string;
}

/**
 * IoT Hub's deviceScope/parentScopes rules for giving `deviceId` the parent `parentId`: the parent
 * exists and is an edge device, the link makes no cycle, and no chain of edge devices through the
 * device (its own edge subtree included, when it is being moved) is longer than MAX_EDGE_DEPTH.
 * Pure: the caller applies the change only on `ok`.
 */
export function checkParent(c: ParentCheck): ParentDecision {
  const no = (reason: ParentRefusal, detail: string): ParentDecision => ({ ok: false, reason, detail });
  if (c.parentId === c.deviceId) return no('self-parent', `"${c.deviceId}" cannot be its own parent`);
  const parent = c.lookup(c.parentId);
  if (!parent) return no('unknown-parent', `parent "${c.parentId}" does not exist`);
  if (!parent.capabilities.iotEdge) {
    return no('parent-not-edge', `parent "${c.parentId}" is not an IoT Edge device`);
  }
  if (isAncestorOrSelf(c.lookup, c.deviceId, c.parentId)) {
    return no('cycle', `"${c.parentId}" is below "${c.deviceId}"; the link would make a cycle`);
  }
  const above = edgeDepth(c.lookup, c.parentId);
  if (above === undefined) return no('cycle', `the parents of "${c.parentId}" form a cycle`);
  const below = edgeHeight(c, c.deviceId, c.iotEdge, 0);
  if (above + below > MAX_EDGE_DEPTH) {
    return no(
      'too-deep',
      `"${c.deviceId}" under "${c.parentId}" would make ${above + below} edge layers (at most ${MAX_EDGE_DEPTH})`,
    );
  }
  return { ok: true };
}

/** True when `ancestorId` is `id` or one of the parents above `id` (bounded walk). */
function isAncestorOrSelf(
  lookup: (id: string) => DeviceRecord | undefined,
  ancestorId: string,
  id: string,
): boolean {
  let current: string | undefined = id;
  for (let hops = 0; current !== undefined && hops <= MAX_EDGE_DEPTH + 2; hops++) {
    if (current === ancestorId) return true;
    current = lookup(current)?.parentId;
  }
  return false;
}

/** Edge layers from `id` down through its deepest edge descendant (0 for a leaf device). */
function edgeHeight(c: ParentCheck, id: string, iotEdge: boolean, level: number): number {
  if (!iotEdge) return 0;
  // Deeper than any legal tree: stop and report something that fails the check.
  if (level > MAX_EDGE_DEPTH) return MAX_EDGE_DEPTH + 1;
  let deepest = 0;
  for (const childId of c.children(id)) {
    const child = c.lookup(childId);
    if (child) deepest = Math.max(deepest, edgeHeight(c, childId, child.capabilities.iotEdge, level + 1));
  }
  return 1 + deepest;
}
