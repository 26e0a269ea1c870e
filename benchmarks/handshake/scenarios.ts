import type { KeyType } from '../../src/pki/index.ts';
import type { DeviceKind } from '../lib/fixtures.ts';

/** What one handshake scenario varies: the devices presented, the server key, resumption. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly devices: DeviceKind;
  readonly serverKeyType: KeyType;
  readonly resume: boolean;
  readonly expect: 'accept' | 'refuse';
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'thumbprint',
    description: 'self-signed devices, thumbprint auth (registry cache hit), ECDSA P-256 server',
    devices: 'thumbprint',
    serverKeyType: 'ec-p256',
    resume: false,
    expect: 'accept',
  },
  {
    name: 'ca-chain',
    description: 'CA-signed devices (leaf + intermediate sent), chain to a verified CA, ECDSA P-256 server',
    devices: 'ca',
    serverKeyType: 'ec-p256',
    resume: false,
    expect: 'accept',
  },
  {
    name: 'cache-miss',
    description: 'unknown self-signed devices: registry miss → refused (the expected outcome)',
    devices: 'unknown',
    serverKeyType: 'ec-p256',
    resume: false,
    expect: 'refuse',
  },
  {
    name: 'resumption',
    description: 'thumbprint devices reusing their TLS 1.3 session ticket, ECDSA P-256 server',
    devices: 'thumbprint',
    serverKeyType: 'ec-p256',
    resume: true,
    expect: 'accept',
  },
  {
    name: 'rsa-server',
    description: 'thumbprint devices, RSA-2048 server chain (root → intermediate → Edge CA → server)',
    devices: 'thumbprint',
    serverKeyType: 'rsa-2048',
    resume: false,
    expect: 'accept',
  },
];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
