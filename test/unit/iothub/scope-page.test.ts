import { describe, expect, it } from 'vitest';
import { buildScopePage, parsePageQuery } from '../../../src/iothub/scope-page.ts';
import type { DeviceRecord } from '../../../src/registry/device.ts';

const record = (deviceId: string): DeviceRecord => ({
  deviceId,
  status: 'enabled',
  authentication: { type: 'certificateAuthority' },
  capabilities: { iotEdge: false },
  etag: `e-${deviceId}`,
  generation: 1,
  lastUpdated: '2026-01-01T00:00:00.000Z',
});

/** Follows continuation links the way a child does, collecting every page. */
function walk(records: readonly DeviceRecord[], pageSize: number): string[][] {
  const pages: string[][] = [];
  let link: string | null = `/x?pageSize=${pageSize}`;
  while (link !== null && pages.length < 1000) {
    const q = parsePageQuery(new URL(link, 'https://h').searchParams);
    if (!q.ok) throw new Error(q.message);
    const page = buildScopePage({ edgeDeviceId: 'gw', records, caCertificates: [], query: q.query });
    pages.push(page.devices.map((d) => d.deviceId));
    link = page.continuationLink;
  }
  return pages;
}

describe('scope paging', () => {
  // Shuffled with a fixed sequence so the test is the same every run.
  const ids = Array.from({ length: 250 }, (_, i) => `dev-${String((i * 97) % 250).padStart(3, '0')}`);
  const records = ids.map(record);
  const sorted = [...ids].sort();

  it('pages every record once, in device id order, whatever order the store holds them in', () => {
    for (const size of [1, 7, 100, 250, 1000]) {
      const pages = walk(records, size);
      expect(pages.flat(), `pageSize ${size}`).toEqual(sorted);
      expect(pages.length, `pageSize ${size}`).toBe(Math.max(1, Math.ceil(250 / size)));
      expect(pages.slice(0, -1).every((p) => p.length === size)).toBe(true);
    }
    expect(walk([...records].reverse(), 7).flat()).toEqual(sorted);
  });

  it('answers an empty page without a link past the end, and for an empty scope', () => {
    const past = buildScopePage({
      edgeDeviceId: 'gw',
      records,
      caCertificates: [],
      query: { pageSize: 10, after: 'zzz' },
    });
    expect(past).toMatchObject({ devices: [], continuationLink: null });
    expect(walk([], 10)).toEqual([[]]);
  });
});
