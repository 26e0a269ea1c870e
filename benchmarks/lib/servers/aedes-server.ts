/**
 * Optional reference (`--servers …,aedes`): the "straightforward" integration PERFORMANCE.md measured —
 * aedes 1.2 behind tls.createServer, the client certificate's SHA-256 checked against a Set in
 * aedes' authenticate hook (CA scenario: OpenSSL's verdict against the root), nothing else. Sets
 * noDelay like Gatehouse's listener. It separates what aedes costs from what Gatehouse adds.
 */
import { createServer, type TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError } from 'aedes';
import { fromParent, replyGc, toParent } from '../child.ts';
import type { BareServerInit } from './protocol.ts';

let served = 0;

async function start(init: BareServerInit): Promise<number> {
  const allowed = new Set(init.thumbprints);
  const broker = await Aedes.createBroker({
    authenticate: (client, _username, _password, done) => {
      const socket = client.conn as TLSSocket;
      const ok = init.caPem
        ? socket.authorized === true
        : allowed.has(socket.getPeerX509Certificate?.()?.fingerprint256 ?? '');
      if (ok) return done(null, true);
      const err = new Error('not authorized') as AuthenticateError;
      (err as { returnCode: number }).returnCode = 5;
      return done(err, false);
    },
  });
  const server = createServer({
    key: init.keyPem,
    cert: init.certChainPem,
    requestCert: true,
    rejectUnauthorized: false,
    noDelay: true,
    ...(init.caPem ? { ca: init.caPem } : {}),
  });
  server.on('secureConnection', (socket) => {
    served++;
    broker.handle(socket);
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
    case 'init':
      toParent({ type: 'ready', id: message.id, port: await start(message.init as BareServerInit) });
      break;
    case 'gc':
      replyGc(message.id);
      break;
    case 'stats':
      toParent({ type: 'stats', id: message.id, served });
      break;
    case 'close':
      toParent({ type: 'closed', id: message.id });
      setImmediate(() => process.exit(0));
      break;
  }
});
toParent({ type: 'loaded' });
