/**
 * Baseline (a): the floor for a Node mTLS MQTT endpoint. A bare TLS server that requests the client
 * certificate, checks its SHA-256 thumbprint against a Set (or, for CA devices, that OpenSSL verified
 * the chain against the given anchors), and writes CONNACK bytes. No MQTT library, no logging.
 * Run as a child process by the benchmark; spoken to over IPC (see ./protocol.ts).
 */
import { createServer, type TLSSocket } from 'node:tls';
import { fromParent, replyGc, toParent } from '../child.ts';
import { CONNACK_ACCEPTED, CONNACK_NOT_AUTHORIZED } from '../mqtt-wire.ts';
import type { BareServerInit } from './protocol.ts';

const sockets = new Set<TLSSocket>();
let served = 0;

function start(init: BareServerInit): Promise<number> {
  const allowed = new Set(init.thumbprints);
  const server = createServer({
    key: init.keyPem,
    cert: init.certChainPem,
    requestCert: true,
    rejectUnauthorized: false,
    ...(init.caPem ? { ca: init.caPem } : {}),
  });
  // Only the CONNECT is answered; DISCONNECT or the client's close ends the connection.
  const accepted = (socket: TLSSocket): boolean => {
    if (init.caPem) return socket.authorized;
    const fingerprint = socket.getPeerX509Certificate()?.fingerprint256;
    return fingerprint !== undefined && allowed.has(fingerprint);
  };
  server.on('secureConnection', (socket) => {
    served++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.once('data', () => {
      if (accepted(socket)) socket.write(CONNACK_ACCEPTED);
      else socket.end(CONNACK_NOT_AUTHORIZED);
      socket.on('data', (chunk: Buffer) => {
        if (chunk[0] === 0xe0) socket.end();
      });
    });
  });
  server.on('tlsClientError', () => {});
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, init.host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

fromParent(async (message) => {
  switch (message.type) {
    case 'init': {
      const port = await start(message.init as BareServerInit);
      toParent({ type: 'ready', id: message.id, port });
      break;
    }
    case 'gc':
      replyGc(message.id);
      break;
    case 'stats':
      toParent({ type: 'stats', id: message.id, served });
      break;
    case 'close':
      for (const s of sockets) s.destroy();
      toParent({ type: 'closed', id: message.id });
      // Exiting (not killing) lets --cpu-prof write its profile.
      setImmediate(() => process.exit(0));
      break;
  }
});
toParent({ type: 'loaded' });
