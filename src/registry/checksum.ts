import { createHash } from 'node:crypto';

/**
 * The snapshot's integrity check. Each row's canonical content has a SHA-256 digest; the checksum is
 * SHA-256 over a header (format, edge device id, sync time) and the sum of all row digests mod 2^256.
 * A sum rather than one running hash lets an on-demand update swap one row's digest without
 * rereading the table, while any changed, added or lost row still changes the result. It detects
 * damage and stray edits; it is not a signature (whoever can write the file can recompute it).
 */
const MODULUS = 1n << 256n;
const FORMAT = 'gatehouse-registry-snapshot/1';

export function recordRowDigest(deviceId: string, json: string): bigint {
  return digest(`record\0${deviceId}\0${json}`);
}

export function caRowDigest(thumbprint: string, name: string, pem: string): bigint {
  return digest(`ca\0${thumbprint}\0${name}\0${pem}`);
}

export function addDigest(sum: bigint, rowDigest: bigint): bigint {
  return (sum + rowDigest) % MODULUS;
}

export function subtractDigest(sum: bigint, rowDigest: bigint): bigint {
  return (((sum - rowDigest) % MODULUS) + MODULUS) % MODULUS;
}

export function snapshotChecksum(edgeDeviceId: string, syncedAt: number | undefined, sum: bigint): string {
  const header = `${FORMAT}\n${edgeDeviceId}\n${syncedAt ?? ''}\n${sum.toString(16).padStart(64, '0')}`;
  return createHash('sha256').update(header).digest('hex');
}

function digest(text: string): bigint {
  return BigInt(`0x${createHash('sha256').update(text).digest('hex')}`);
}
