import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../../benchmarks/handshake/scenarios.ts';
import { checkTargets, pairRatios, summarizeServer } from '../../../benchmarks/handshake/summary.ts';
import type { Measurement } from '../../../benchmarks/lib/measure.ts';
import type { ServerName } from '../../../benchmarks/lib/servers/handle.ts';

const round = (server: ServerName, serverCpuPerConnectUs: number): Measurement => ({
  server,
  completed: 1000,
  elapsedMs: 4000,
  connectsPerSec: 250,
  p50Ms: 20,
  p99Ms: 40,
  serverCpuPerConnectUs,
  serverCpuCores: 0.5,
  serverRssBytes: 1,
  clientCpuPerConnectUs: 2000,
  outcomes: { accepted: 1000 },
  failures: {},
  resumed: 0,
});

describe('handshake summary', () => {
  it('takes the median of same-round ratios and keeps each round’s ratio for the spread', () => {
    const gatehouse = summarizeServer([1100, 1500, 1200, 1300].map((us) => round('gatehouse', us)));
    const node = summarizeServer([1000, 1000, 1200, 1000].map((us) => round('node', us)));
    const ratios = pairRatios({ gatehouse, node });
    expect(ratios['gatehouse/node']?.serverCpuPerConnectRounds).toEqual([1.1, 1.5, 1, 1.3]);
    expect(ratios['gatehouse/node']?.serverCpuPerConnect).toBeCloseTo(1.2, 6);

    const thumbprint = SCENARIOS.find((s) => s.name === 'thumbprint');
    if (!thumbprint) throw new Error('no thumbprint scenario');
    const [vsNode, vsMosquitto] = checkTargets([
      { scenario: thumbprint, servers: { gatehouse, node }, ratios },
    ]);
    expect(vsNode).toMatchObject({ limit: 1.15, met: false, range: [1, 1.5] });
    expect(vsNode?.value).toBeCloseTo(1.2, 6);
    // Mosquitto did not run: not measured rather than met or missed.
    expect(vsMosquitto).toMatchObject({ limit: 1.25, met: null, range: undefined });
  });
});
