import { connect, type SecureContext } from 'node:tls';
import { type ConnackRead, DISCONNECT, readConnack } from '../mqtt-wire.ts';

/**
 * One client connection attempt: full TLS handshake with the client certificate (or resumed with a
 * session ticket), MQTT CONNECT, CONNACK read. What happens next is the caller's choice: `finish`
 * sends DISCONNECT and waits for the close, `hold` keeps the connection open (idle-memory runs).
 */

export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  /** SNI and the name the server certificate is checked against. */
  readonly servername: string;
  /** Built once per identity and reused: building one per connect would cost the client ~1 ms. */
  readonly secureContext: SecureContext;
  readonly connectPacket: Buffer;
  readonly timeoutMs: number;
}

export type Attempt =
  | { readonly kind: 'accepted'; readonly latencyMs: number; readonly resumed: boolean }
  | { readonly kind: 'refused'; readonly how: string; readonly latencyMs: number }
  | { readonly kind: 'failed'; readonly how: string };

export interface OpenConnection {
  readonly attempt: Attempt;
  /** Sends DISCONNECT, ends TLS and resolves once the socket closed (bounded by the timeout). */
  finish(): Promise<void>;
  /** Drops the connection at once. */
  destroy(): void;
}

/** TLS alerts from the server mean it refused us; anything else is the client's or the network's failure. */
function isServerAlert(code: string): boolean {
  return code.includes('_ALERT_');
}

export function attemptConnect(
  target: ConnectTarget,
  session: Buffer | undefined,
  onSession: (s: Buffer) => void,
): Promise<OpenConnection> {
  const started = process.hrtime.bigint();
  const elapsedMs = (): number => Number(process.hrtime.bigint() - started) / 1e6;
  return new Promise((resolve) => {
    let settled = false;
    let handshook = false;
    let received: Buffer | undefined;
    const socket = connect({
      host: target.host,
      port: target.port,
      servername: target.servername,
      secureContext: target.secureContext,
      rejectUnauthorized: true,
      ...(session ? { session } : {}),
    });
    // Small MQTT packets right behind the TLS Finished would otherwise wait out Nagle + delayed ACK (~40 ms).
    socket.setNoDelay(true);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    const open: Omit<OpenConnection, 'attempt'> = {
      finish: async () => {
        if (!socket.destroyed) socket.end(DISCONNECT);
        const timer = setTimeout(() => socket.destroy(), target.timeoutMs);
        await closed;
        clearTimeout(timer);
      },
      destroy: () => socket.destroy(),
    };
    const settle = (attempt: Attempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (attempt.kind !== 'accepted') socket.destroy();
      resolve({ attempt, ...open });
    };
    const timer = setTimeout(
      () => settle({ kind: 'failed', how: handshook ? 'timeout-connack' : 'timeout-tls' }),
      target.timeoutMs,
    );

    socket.on('session', onSession);
    socket.once('secureConnect', () => {
      handshook = true;
      socket.write(target.connectPacket);
    });
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      received = received ? Buffer.concat([received, chunk]) : chunk;
      const read: ConnackRead = readConnack(received);
      if (read.kind === 'incomplete') return;
      if (read.kind === 'not-connack') {
        settle({ kind: 'failed', how: `protocol-0x${read.firstByte.toString(16)}` });
      } else if (read.returnCode === 0) {
        settle({ kind: 'accepted', latencyMs: elapsedMs(), resumed: socket.isSessionReused() });
      } else {
        settle({ kind: 'refused', how: `connack-${read.returnCode}`, latencyMs: elapsedMs() });
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'error';
      if (isServerAlert(code)) settle({ kind: 'refused', how: `tls-${code}`, latencyMs: elapsedMs() });
      else if (handshook && (code === 'ECONNRESET' || code === 'EPIPE'))
        settle({ kind: 'refused', how: 'reset', latencyMs: elapsedMs() });
      else settle({ kind: 'failed', how: code });
    });
    socket.once('end', () => {
      if (handshook) settle({ kind: 'refused', how: 'closed-before-connack', latencyMs: elapsedMs() });
      else settle({ kind: 'failed', how: 'closed-during-handshake' });
    });
  });
}
