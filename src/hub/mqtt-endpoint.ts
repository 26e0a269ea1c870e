import type { AddressInfo, Socket } from 'node:net';
import { createServer, type Server } from 'node:tls';
import { Aedes, type Client } from 'aedes';
import { parseC2dFilter } from '../iothub/topics.ts';
import { listenOn } from '../listen.ts';
import type { Logger } from '../logger.ts';
import { FULL_HANDSHAKES_ONLY } from '../pki/peer-chain.ts';
import type { C2dDispatcher } from './c2d-dispatch.ts';
import type { CaRegistry } from './cas.ts';
import type { DeviceRegistry } from './devices.ts';
import type { MessageStore } from './messages.ts';
import { createHubHooks } from './mqtt-hooks.ts';

export interface MqttEndpointOptions {
  readonly host: string;
  readonly port: number;
  /** The hub's server key and certificate chain (PEM). */
  readonly keyPem: string;
  readonly certChainPem: string;
  readonly devices: DeviceRegistry;
  readonly cas: CaRegistry;
  readonly messages: MessageStore;
  readonly dispatcher: C2dDispatcher;
  readonly logger: Logger;
}

export interface MqttEndpoint {
  readonly port: number;
  /** Closes the live connection of a device (after it was disabled, removed or its credentials changed). */
  disconnectDevice(deviceId: string): void;
  close(): Promise<void>;
}

/** The hub's MQTT-over-TLS listener: mTLS is requested on every connection and decided per CONNECT. */
export async function startMqttEndpoint(opts: MqttEndpointOptions): Promise<MqttEndpoint> {
  const log = opts.logger;
  const hooks = createHubHooks({
    devices: opts.devices,
    cas: opts.cas,
    messages: opts.messages,
    logger: log,
  });
  const broker = await Aedes.createBroker({
    ...hooks,
    // IoT Hub device ids are up to 128 characters (aedes defaults to MQTT 3.1's 23).
    maxClientsIdLength: 128,
  });
  const live = new Map<string, Client>();
  const dispatcher = opts.dispatcher;

  broker.on('clientReady', (client) => {
    const s = hooks.sessionOf(client);
    if (s) live.set(s.deviceId, client);
  });
  broker.on('clientDisconnect', (client) => {
    const s = hooks.sessionOf(client);
    if (!s) return;
    if (live.get(s.deviceId) === client) live.delete(s.deviceId);
    dispatcher.gone(s.receiver);
  });
  broker.on('subscribe', (subs, client) => {
    const s = hooks.sessionOf(client);
    if (!s) return;
    for (const sub of subs) {
      const deviceId = parseC2dFilter(sub.topic);
      // aedes reports a refused subscription with qos 128 (the SUBACK failure code).
      if (deviceId !== undefined && (sub.qos as number) !== 128)
        dispatcher.subscribed(s.receiver, deviceId, sub.qos >= 1 ? 1 : 0);
    }
  });
  broker.on('unsubscribe', (filters, client) => {
    const s = hooks.sessionOf(client);
    if (!s) return;
    for (const filter of filters) {
      const deviceId = parseC2dFilter(filter);
      if (deviceId !== undefined) dispatcher.unsubscribed(s.receiver, deviceId);
    }
  });
  broker.on('ack', (_packet, client) => {
    const s = hooks.sessionOf(client);
    if (s) dispatcher.acked(s.receiver);
  });
  broker.on('clientError', (client, err) => {
    log.debug({ deviceId: hooks.sessionOf(client)?.deviceId, err: err.message }, 'client error');
  });

  const sockets = new Set<Socket>();
  const server: Server = createServer(
    {
      key: opts.keyPem,
      cert: opts.certChainPem,
      // Ask for a client certificate but let the handshake finish without one: the CONNECT hook
      // decides, so a refusal is a CONNACK 5 with a logged reason rather than an opaque TLS alert.
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      // The CONNECT hook reads the peer chain, which resumed sessions lack.
      ...FULL_HANDSHAKES_ONLY,
    },
    (socket) => {
      broker.handle(socket);
    },
  );
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));

  try {
    await listenOn(server, opts.host, opts.port, 'MQTT');
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    disconnectDevice(deviceId) {
      const client = live.get(deviceId);
      if (client) {
        log.info({ deviceId }, 'closing the connection of a changed device');
        client.close();
      }
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
