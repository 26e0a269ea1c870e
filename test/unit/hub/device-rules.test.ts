import { describe, expect, it } from 'vitest';
import { checkParent } from '../../../src/hub/device-rules.ts';
import type { DeviceRecord } from '../../../src/registry/device.ts';

function registry(entries: Array<[id: string, edge: boolean, parent?: string]>) {
  const records = new Map<string, DeviceRecord>();
  for (const [deviceId, iotEdge, parentId] of entries) {
    records.set(deviceId, {
      deviceId,
      status: 'enabled',
      authentication: { type: 'certificateAuthority' },
      capabilities: { iotEdge },
      ...(parentId ? { parentId } : {}),
      etag: 'e',
      generation: 1,
      lastUpdated: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    });
  }
  const lookup = (id: string) => records.get(id);
  const children = (id: string) =>
    [...records.values()].filter((r) => r.parentId === id).map((r) => r.deviceId);
  return (deviceId: string, iotEdge: boolean, parentId: string) =>
    checkParent({ lookup, children, deviceId, iotEdge, parentId });
}

// e1 → e2 → e3 → e4 → e5 (five edge layers); leaf device p; edge subtree m1 → m2.
const check = registry([
  ['e1', true],
  ['e2', true, 'e1'],
  ['e3', true, 'e2'],
  ['e4', true, 'e3'],
  ['e5', true, 'e4'],
  ['p', false],
  ['m1', true],
  ['m2', true, 'm1'],
  ['m3', false, 'm2'],
]);

describe('checkParent', () => {
  it('accepts a leaf or edge device under an edge parent within five layers', () => {
    expect(check('new-leaf', false, 'e5')).toEqual({ ok: true });
    expect(check('new-edge', true, 'e4')).toEqual({ ok: true });
    expect(check('m1', true, 'e3')).toEqual({ ok: true });
  });

  it('refuses an unknown parent, a non-edge parent and self-parenting', () => {
    expect(check('x', false, 'nobody')).toMatchObject({ ok: false, reason: 'unknown-parent' });
    expect(check('x', false, 'p')).toMatchObject({ ok: false, reason: 'parent-not-edge' });
    expect(check('e1', true, 'e1')).toMatchObject({ ok: false, reason: 'self-parent' });
  });

  it('refuses a link that would make a cycle', () => {
    expect(check('e1', true, 'e5')).toMatchObject({ ok: false, reason: 'cycle' });
    expect(check('m1', true, 'm2')).toMatchObject({ ok: false, reason: 'cycle' });
  });

  it('refuses a sixth edge layer, counting the subtree being moved', () => {
    expect(check('new-edge', true, 'e5')).toMatchObject({ ok: false, reason: 'too-deep' });
    // m1 carries two edge layers: under e4 that makes six.
    expect(check('m1', true, 'e4')).toMatchObject({
      ok: false,
      reason: 'too-deep',
      detail: expect.stringContaining('6'),
    });
  });
});
