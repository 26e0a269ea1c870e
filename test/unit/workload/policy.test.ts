import { describe, expect, it } from 'vitest';
import { decideServerCert, globMatches, type WorkloadPolicy } from '../../../src/workload/policy.ts';

const NOW = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const policy: WorkloadPolicy = { allowedNames: ['*.local', 'sensor-*', '10.0.0.5'], maxDays: 30 };

describe('globMatches', () => {
  it.each([
    ['*.local', 'module.local', true],
    ['*.local', 'a.b.local', true],
    ['*.local', 'local', false],
    ['*.local', 'module.local.evil.com', false],
    ['sensor-*', 'SENSOR-7', true],
    ['sensor-*', 'xsensor-7', false],
    ['a.b', 'aXb', false],
  ])('%s vs %s → %s', (glob, name, expected) => {
    expect(globMatches(glob, name)).toBe(expected);
  });
});

describe('decideServerCert', () => {
  it('grants allowed names with the requested lifetime in whole days', () => {
    const d = decideServerCert(
      { commonName: 'web.local', subjectAltNames: ['sensor-1', '10.0.0.5'], expiration: NOW + 2.5 * DAY },
      policy,
      NOW,
    );
    expect(d).toEqual({ ok: true, names: ['web.local', 'sensor-1', '10.0.0.5'], days: 3 });
  });

  it('caps the lifetime at cert_days', () => {
    const d = decideServerCert(
      { commonName: 'web.local', subjectAltNames: [], expiration: NOW + 400 * DAY },
      policy,
      NOW,
    );
    expect(d.ok && d.days).toBe(30);
  });

  it('refuses a CN or SAN outside allowed_names', () => {
    const cn = decideServerCert(
      { commonName: 'hub.example.com', subjectAltNames: [], expiration: NOW + DAY },
      policy,
      NOW,
    );
    expect(cn.ok ? 'granted' : cn.reason).toBe('name-not-allowed');
    const san = decideServerCert(
      { commonName: 'web.local', subjectAltNames: ['10.0.0.6'], expiration: NOW + DAY },
      policy,
      NOW,
    );
    expect(san.ok ? 'granted' : san.reason).toBe('name-not-allowed');
  });

  it('refuses wildcards and names that are not DNS names or IPs, even when a glob would match', () => {
    const star = decideServerCert(
      { commonName: '*.local', subjectAltNames: [], expiration: NOW + DAY },
      policy,
      NOW,
    );
    expect(star.ok ? 'granted' : star.reason).toBe('bad-name');
    const odd = decideServerCert(
      { commonName: 'a b.local', subjectAltNames: [], expiration: NOW + DAY },
      policy,
      NOW,
    );
    expect(odd.ok ? 'granted' : odd.reason).toBe('bad-name');
  });

  it('refuses an expiration that is not a date or not in the future', () => {
    const nan = decideServerCert(
      { commonName: 'web.local', subjectAltNames: [], expiration: Number.NaN },
      policy,
      NOW,
    );
    expect(nan.ok ? 'granted' : nan.reason).toBe('bad-expiration');
    const past = decideServerCert(
      { commonName: 'web.local', subjectAltNames: [], expiration: NOW - 1 },
      policy,
      NOW,
    );
    expect(past.ok ? 'granted' : past.reason).toBe('expiration-in-past');
  });

  it('refuses everything with an empty allow list (fail closed)', () => {
    const d = decideServerCert(
      { commonName: 'web.local', subjectAltNames: [], expiration: NOW + DAY },
      { allowedNames: [], maxDays: 30 },
      NOW,
    );
    expect(d.ok ? 'granted' : d.reason).toBe('name-not-allowed');
  });
});
