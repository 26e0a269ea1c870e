import { describe, expect, it } from 'vitest';
import { healthOf } from '../../../src/broker/health.ts';

const registry = (state: 'synced' | 'stale' | 'offline' | 'empty') => ({
  state,
  size: state === 'empty' ? 0 : 3,
  lastSyncAt: Date.UTC(2026, 0, 1),
  lastError: state === 'offline' ? 'ECONNREFUSED' : undefined,
});

describe('healthOf', () => {
  it('is ready only when listening, synced and connected upstream', () => {
    expect(healthOf(true, registry('synced'), 'connected')).toEqual({
      httpStatus: 200,
      body: { status: 'ready' },
    });
  });

  it('is degraded (200) while serving from a snapshot or without upstream', () => {
    for (const [state, upstream] of [
      ['stale', 'connected'],
      ['offline', 'offline'],
      ['synced', 'refused'],
    ] as const) {
      const h = healthOf(true, registry(state), upstream);
      expect(h.httpStatus).toBe(200);
      expect(h.body).toMatchObject({ status: 'degraded', registry: state, upstream });
    }
    expect(healthOf(true, registry('offline'), 'offline').body).toMatchObject({
      registryError: 'ECONNREFUSED',
      lastSyncAt: '2026-01-01T00:00:00.000Z',
    });
  });

  it('is offline (503) with no registry data or no listener', () => {
    expect(healthOf(true, registry('empty'), 'connected')).toMatchObject({
      httpStatus: 503,
      body: { status: 'offline' },
    });
    expect(healthOf(false, registry('synced'), 'connected')).toMatchObject({
      httpStatus: 503,
      body: { status: 'offline' },
    });
  });
});
