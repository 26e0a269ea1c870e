import { createECDH, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A deliberately minimal TLS 1.2 client (ECDHE-ECDSA-AES128-GCM-SHA256 only) that presents a client
 * certificate and signs CertificateVerify with WHATEVER key it is given. OpenSSL-based clients refuse
 * a certificate/key pair that does not match, so this is the only way to show that the server checks
 * proof of possession. It stops after sending a bogus Finished: the server's first alert says how far
 * the handshake got — decrypt_error (51) = CertificateVerify refused; bad_record_mac (20) = the
 * signature was accepted and only our fake Finished failed.
 */
export const ALERT_BAD_RECORD_MAC = 20;
export const ALERT_DECRYPT_ERROR = 51;

const HANDSHAKE = 22;
const ALERT = 21;
const CCS = 20;

export interface ForgedHandshake {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  /** DER certificates to present, leaf first. */
  readonly certificates: readonly Buffer[];
  /** The key CertificateVerify is signed with (PEM, EC P-256). */
  readonly signingKeyPem: string;
  readonly timeoutMs?: number;
}

/** Runs the handshake; resolves the first alert description the server sent (undefined if none). */
export function forgedHandshake(o: ForgedHandshake): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(o.port, o.host);
    const transcript: Buffer[] = [];
    let inbound = Buffer.alloc(0);
    let handshakeBytes = Buffer.alloc(0);
    let serverDone = false;
    let settled = false;
    const finish = (alert: number | undefined, err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(alert);
    };
    const timer = setTimeout(
      () => finish(undefined, new Error('forged handshake timed out')),
      o.timeoutMs ?? 10_000,
    );
    const sendHandshake = (type: number, body: Buffer): void => {
      const msg = Buffer.concat([Buffer.from([type]), u24(body.length), body]);
      transcript.push(msg);
      socket.write(record(HANDSHAKE, msg));
    };

    socket.on('connect', () => sendHandshake(1, clientHello(o.servername)));
    socket.on('error', (err) => finish(undefined, err));
    socket.on('close', () => finish(undefined));
    socket.on('data', (chunk: Buffer) => {
      inbound = Buffer.concat([inbound, chunk]);
      // Bounded: a record is at most 2^14 + 2048 bytes, and we stop at the first alert.
      while (inbound.length >= 5) {
        const len = inbound.readUInt16BE(3);
        if (inbound.length < 5 + len) break;
        const type = inbound[0];
        const payload = inbound.subarray(5, 5 + len);
        inbound = inbound.subarray(5 + len);
        if (type === ALERT) return finish(payload[1]);
        if (type !== HANDSHAKE || serverDone) continue;
        handshakeBytes = Buffer.concat([handshakeBytes, payload]);
        while (handshakeBytes.length >= 4) {
          const mlen = handshakeBytes.readUIntBE(1, 3);
          if (handshakeBytes.length < 4 + mlen) break;
          const msg = handshakeBytes.subarray(0, 4 + mlen);
          handshakeBytes = handshakeBytes.subarray(4 + mlen);
          transcript.push(Buffer.from(msg));
          if (msg[0] === 14) {
            serverDone = true;
            clientFlight();
          }
        }
      }
    });

    const clientFlight = (): void => {
      const certs = Buffer.concat(o.certificates.map((der) => Buffer.concat([u24(der.length), der])));
      sendHandshake(11, Buffer.concat([u24(certs.length), certs]));
      const ecdh = createECDH('prime256v1');
      const point = ecdh.generateKeys();
      sendHandshake(16, Buffer.concat([Buffer.from([point.length]), point]));
      const signature = sign('sha256', Buffer.concat(transcript), createPrivateKey(o.signingKeyPem));
      sendHandshake(15, Buffer.concat([Buffer.from([0x04, 0x03]), u16(signature.length), signature]));
      socket.write(record(CCS, Buffer.from([1])));
      // A Finished we cannot encrypt properly: 8-byte explicit nonce + 16 bytes + 16-byte tag.
      socket.write(record(HANDSHAKE, randomBytes(40)));
    };
  });
}

function clientHello(servername: string): Buffer {
  const name = Buffer.from(servername);
  const sni = Buffer.concat([u16(name.length + 3), Buffer.from([0]), u16(name.length), name]);
  const extensions = Buffer.concat([
    ext(0x0000, sni),
    ext(0x000a, Buffer.from([0x00, 0x02, 0x00, 0x17])), // supported_groups: secp256r1
    ext(0x000b, Buffer.from([0x01, 0x00])), // ec_point_formats: uncompressed
    ext(0x000d, Buffer.from([0x00, 0x02, 0x04, 0x03])), // signature_algorithms: ecdsa_secp256r1_sha256
    ext(0xff01, Buffer.from([0x00])), // renegotiation_info (empty)
  ]);
  return Buffer.concat([
    Buffer.from([0x03, 0x03]),
    randomBytes(32),
    Buffer.from([0x00]), // no session id
    u16(2),
    Buffer.from([0xc0, 0x2b]), // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    Buffer.from([0x01, 0x00]), // null compression
    u16(extensions.length),
    extensions,
  ]);
}

const ext = (type: number, body: Buffer): Buffer => Buffer.concat([u16(type), u16(body.length), body]);
const record = (type: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([type, 0x03, 0x03]), u16(body.length), body]);
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u24 = (n: number): Buffer => {
  const b = Buffer.alloc(3);
  b.writeUIntBE(n, 0, 3);
  return b;
};
