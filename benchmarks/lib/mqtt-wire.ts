/**
 * The few MQTT 3.1.1 packets the load generator needs, hand-encoded so the client side costs no parser
 * and stays identical for every server under test.
 */

/** DISCONNECT: type 14, no payload. */
export const DISCONNECT = Buffer.from([0xe0, 0x00]);
/** CONNACK, session not present, return code 0 (accepted). */
export const CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00]);
/** CONNACK, return code 5 (not authorized). */
export const CONNACK_NOT_AUTHORIZED = Buffer.from([0x20, 0x02, 0x00, 0x05]);

export interface ConnectFields {
  readonly clientId: string;
  /** Omitted when undefined. */
  readonly username?: string | undefined;
  /** Seconds; 0 = no keep-alive (idle connections stay open without PINGREQ). */
  readonly keepAliveSecs: number;
  readonly cleanSession: boolean;
}

/** Encodes an MQTT 3.1.1 CONNECT packet. */
export function encodeConnect(fields: ConnectFields): Buffer {
  const clientId = Buffer.from(fields.clientId, 'utf8');
  const username = fields.username === undefined ? undefined : Buffer.from(fields.username, 'utf8');
  if (clientId.length > 0xffff || (username && username.length > 0xffff)) {
    throw new RangeError('client id and username must each fit in 65535 bytes');
  }
  // Variable header: protocol name "MQTT", level 4, flags, keep-alive.
  const flags = (fields.cleanSession ? 0x02 : 0) | (username ? 0x80 : 0);
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, flags, 0, 0]);
  variable.writeUInt16BE(fields.keepAliveSecs, 8);
  const parts = [variable, lengthPrefixed(clientId)];
  if (username) parts.push(lengthPrefixed(username));
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x10]), encodeRemainingLength(body.length), body]);
}

function lengthPrefixed(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function encodeRemainingLength(length: number): Buffer {
  const bytes: number[] = [];
  let n = length;
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    bytes.push(digit);
  } while (n > 0 && bytes.length < 4);
  return Buffer.from(bytes);
}

export type ConnackRead =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'connack'; readonly returnCode: number }
  | { readonly kind: 'not-connack'; readonly firstByte: number };

/** Reads a CONNACK from the first bytes a server sent (MQTT 3.1.1: 0x20 0x02 flags rc). */
export function readConnack(bytes: Buffer): ConnackRead {
  const first = bytes[0];
  if (first === undefined) return { kind: 'incomplete' };
  if (first !== 0x20) return { kind: 'not-connack', firstByte: first };
  const rc = bytes[3];
  if (rc === undefined) return { kind: 'incomplete' };
  if (bytes[1] !== 0x02) return { kind: 'not-connack', firstByte: first };
  return { kind: 'connack', returnCode: rc };
}

/** True when `bytes` holds an MQTT CONNECT at its start (what a bare server needs to answer it). */
export function startsWithConnect(bytes: Buffer): boolean {
  return bytes[0] === 0x10;
}
