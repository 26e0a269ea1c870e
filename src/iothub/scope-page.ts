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
  const sorted = [...p.records]
    .filter((r) => p.query.after === undefined || r.deviceId > p.query.after)
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const devices = sorted.slice(0, p.query.pageSize);
  const last = devices[devices.length - 1];
  const more = sorted.length > devices.length && last !== undefined;
  return {
    edgeDeviceId: p.edgeDeviceId,
    devices,
    caCertificates: [...p.caCertificates],
    continuationLink: more
      ? `${scopePaths.all(p.edgeDeviceId)}?pageSize=${p.query.pageSize}&continuation=${Buffer.from(last.deviceId).toString('base64url')}`
      : null,
  };
}
