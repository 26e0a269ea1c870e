import { afterEach, describe, expect, it, vi } from 'vitest';
import { BurstLog } from '../../../src/broker/burst-log.ts';
import { SourceRateLimiter } from '../../../src/broker/rate-limit.ts';
import { createLogger } from '../../../src/logger.ts';
import { logSink } from './setup.ts';

describe('SourceRateLimiter', () => {
  it('allows a burst of 2 × rate per source, then refills at the rate', () => {
    let now = 1_000_000;
    const limiter = new SourceRateLimiter({ ratePerSecond: 5, now: () => now });
    const results = Array.from({ length: 12 }, () => limiter.take('10.0.0.1'));
    expect(results.filter(Boolean)).toHaveLength(10);
    expect(results.slice(10)).toEqual([false, false]);
    // Another source has its own bucket.
    expect(limiter.take('10.0.0.2')).toBe(true);
    now += 1000;
    const refilled = Array.from({ length: 6 }, () => limiter.take('10.0.0.1'));
    expect(refilled).toEqual([true, true, true, true, true, false]);
  });

  it('stays bounded in sources: a forgotten source starts with a full bucket', () => {
    const now = 0;
    const limiter = new SourceRateLimiter({ ratePerSecond: 1, maxSources: 2, now: () => now });
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, false]);
    limiter.take('b');
    limiter.take('c'); // evicts "a"
    expect(limiter.take('a')).toBe(true);
  });

  it('is disabled by a rate of 0', () => {
    const limiter = new SourceRateLimiter({ ratePerSecond: 0 });
    expect(Array.from({ length: 100 }, () => limiter.take('x')).every(Boolean)).toBe(true);
  });
});

describe('BurstLog', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs the first event of a burst, then one summary per window, then stops', () => {
    vi.useFakeTimers();
    const sink = logSink();
    const burst = new BurstLog(createLogger({ destination: sink }), 1000);
    for (let i = 0; i < 50; i++) burst.note('limit:max-connections', { limit: 'max-connections' }, 'refused');
    expect(sink.lines).toHaveLength(1);
    vi.advanceTimersByTime(1000);
    expect(sink.lines).toHaveLength(2);
    expect(sink.lines[1]).toMatchObject({ suppressed: 49, limit: 'max-connections' });
    // Quiet window: the burst ends without another line; the next event starts a new burst.
    vi.advanceTimersByTime(1000);
    expect(sink.lines).toHaveLength(2);
    burst.note('limit:max-connections', { limit: 'max-connections' }, 'refused');
    expect(sink.lines).toHaveLength(3);
    // Different kinds are independent.
    burst.note('limit:source-rate', { limit: 'source-rate' }, 'refused');
    expect(sink.lines).toHaveLength(4);
    burst.close();
  });

  it('with an allowance, logs that many events of a window one by one before summarizing', () => {
    vi.useFakeTimers();
    const sink = logSink();
    const burst = new BurstLog(createLogger({ destination: sink }), 1000, 3);
    for (let i = 0; i < 10; i++)
      burst.note('unknown-device', { reason: 'unknown-device', i }, 'device refused');
    expect(sink.lines.map((l) => l.i)).toEqual([0, 1, 2]);
    vi.advanceTimersByTime(1000);
    expect(sink.lines).toHaveLength(4);
    expect(sink.lines[3]).toMatchObject({ suppressed: 7, reason: 'unknown-device' });
    // While the burst goes on, only summaries; once a window stays quiet, the allowance starts over.
    burst.note('unknown-device', { reason: 'unknown-device', i: 10 }, 'device refused');
    expect(sink.lines).toHaveLength(4);
    vi.advanceTimersByTime(2000);
    expect(sink.lines).toHaveLength(5);
    burst.note('unknown-device', { reason: 'unknown-device', i: 11 }, 'device refused');
    expect(sink.lines.at(-1)).toMatchObject({ i: 11, msg: 'device refused' });
    burst.close();
  });
});
