import { afterEach, describe, expect, it, vi } from 'vitest';
import { RenewalTimer } from '../../../src/edge-ca/renewal.ts';
import { silentLogger } from '../../../src/logger.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('RenewalTimer', () => {
  it('renews at the renewal point, retries after a failure, then reschedules from the new point', async () => {
    vi.useFakeTimers();
    const start = Date.now();
    let nextAt = start + 10 * 60_000;
    const calls: number[] = [];
    let fail = true;
    const timer = new RenewalTimer({
      nextAt: () => nextAt,
      renew: async () => {
        calls.push(Date.now() - start);
        if (fail) {
          fail = false;
          throw new Error('issuer unreachable');
        }
        nextAt = Date.now() + 60 * 60_000;
      },
      retryMs: () => 5 * 60_000,
      log: silentLogger(),
    });
    timer.schedule();
    await vi.advanceTimersByTimeAsync(10 * 60_000 - 1);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([10 * 60_000]);
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(calls).toEqual([10 * 60_000, 15 * 60_000]);
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(calls).toEqual([10 * 60_000, 15 * 60_000, 75 * 60_000]);
    timer.close();
    await vi.advanceTimersByTimeAsync(10 * 60 * 60_000);
    expect(calls).toHaveLength(3);
  });

  it('never spins on an overdue point: waits at least the minimum delay', async () => {
    vi.useFakeTimers();
    let count = 0;
    const timer = new RenewalTimer({
      nextAt: () => 0,
      renew: async () => {
        count++;
      },
      retryMs: () => 0,
      log: silentLogger(),
      minDelayMs: 1000,
    });
    timer.schedule();
    await vi.advanceTimersByTimeAsync(10_500);
    expect(count).toBe(10);
    timer.close();
  });
});
