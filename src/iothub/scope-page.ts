import type { DeviceRecord } from '../registry/device.ts';
import {
  DEFAULT_SCOPE_PAGE_SIZE,
  MAX_SCOPE_PAGE_SIZE,
  type ScopeCa,
  type ScopePage,
  scopePaths,
} from './scope-api.ts';

/**
 * Paging of the scope API, shared by every server of it (the mock hub and parent gateways), so a
 * child syncs the same way from either. The continuation token is the last device id of the page,
 * base64url-encoded: stable under concurrent inserts, and opaque to clients.
 */
export interface PageQuery {
  readonly pageSize: number;
  readonly after: string | undefined;
}

export type PageQueryResult =
  | { readonly ok: true; readonly query: PageQuery }
  | { readonly ok: false; readonly message: string };

export function parsePageQuery(params: URLSearchParams): PageQueryResult {
  const rawSize = params.get('pageSize');
  let pageSize = DEFAULT_SCOPE_PAGE_SIZE;
  if (rawSize !== null) {
    pageSize = Number(rawSize);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_SCOPE_PAGE_SIZE) {
      return { ok: false, message: `pageSize must be an integer from 1 to ${MAX_SCOPE_PAGE_SIZE}` };
    }
  }
  const token = params.get('continuation');
  if (token === null || token === '') return { ok: true, query: { pageSize, after: undefined } };
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(token)) return { ok: false, message: 'continuation token is malformed' };
  return { ok: true, query: { pageSize, after: Buffer.from(token, 'base64url').toString('utf8') } };
}

/** One page of `records` (any order; sorted here by device id) after the query's cursor. */
export function buildScopePage(p: {
  readonly edgeDeviceId: string;
  readonly records: Iterable<DeviceRecord>;
  readonly caCertificates: readonly ScopeCa[];
  readonly query: PageQuery;
}): ScopePage {
  const { devices, more } = firstAfter(p.records, p.query.after, p.query.pageSize);
  const last = devices[devices.length - 1];
  return {
    edgeDeviceId: p.edgeDeviceId,
    devices,
    caCertificates: [...p.caCertificates],
    continuationLink:
      more && last
        ? `${scopePaths.all(p.edgeDeviceId)}?pageSize=${p.query.pageSize}&continuation=${Buffer.from(last.deviceId).toString('base64url')}`
        : null,
  };
}

/**
 * The `size` records with the smallest device ids above `after`, in id order, and whether any other
 * record lies above `after`: one pass keeping at most `size` records, instead of sorting the whole
 * scope for every page (a full sync of n devices in pages of k costs O(n²/k · log k), not
 * O(n²/k · log n) plus a copy of the scope per page).
 */
function firstAfter(
  records: Iterable<DeviceRecord>,
  after: string | undefined,
  size: number,
): { devices: DeviceRecord[]; more: boolean } {
  const best: DeviceRecord[] = [];
  let candidates = 0;
  for (const r of records) {
    const id = r.deviceId;
    if (after !== undefined && id <= after) continue;
    candidates++;
    const full = best.length === size;
    if (full && id >= (best[size - 1] as DeviceRecord).deviceId) continue;
    // Binary search for the insertion point (ids are unique).
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((best[mid] as DeviceRecord).deviceId < id) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, r);
    if (full) best.pop();
  }
  return { devices: best, more: candidates > best.length };
}
