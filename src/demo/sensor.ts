import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import mqtt, { type MqttClient } from 'mqtt';
import { c2dFilter, formatPropertyBag, iotHubUsername, telemetryTopic } from '../iothub/topics.ts';

/** What a demo sensor reports, for the narrator to show. */
export type SensorEvent =
  | {
      readonly kind: 'connected';
      readonly deviceId: string;
      readonly protocol: string;
      readonly serverSubject: string;
    }
  | { readonly kind: 'sent'; readonly deviceId: string; readonly seq: number; readonly body: string }
  | { readonly kind: 'c2d'; readonly deviceId: string; readonly payload: string; readonly topic: string }
  | { readonly kind: 'error'; readonly deviceId: string; readonly message: string };

export interface SensorOptions {
  readonly deviceId: string;
  readonly host: string;
  readonly port: number;
  /** The gateway's hostname, checked against its server certificate. */
  readonly servername: string;
  readonly iothubHostname: string;
  readonly caPem: string;
  /** Leaf + intermediates, so a CA-signed device's chain reaches the verified CA. */
  readonly certPem: string;
  readonly keyPem: string;
  /** Telemetry period. Default 3000 ms. */
  readonly intervalMs?: number;
  readonly onEvent: (event: SensorEvent) => void;
}

export interface Sensor {
  close(): Promise<void>;
}

/**
 * A downstream sensor as a real device would be: mqtt.js over mutual TLS, IoT Hub dialect, QoS 1
 * telemetry with a property bag, and a cloud-to-device subscription.
 */
export async function startSensor(o: SensorOptions): Promise<Sensor> {
  const client: MqttClient = await mqtt.connectAsync(`mqtts://${o.host}:${o.port}`, {
    ca: o.caPem,
    cert: o.certPem,
    key: o.keyPem,
    // SNI carries names only (RFC 6066); for an IP, Node checks the IP SAN against the address itself.
    ...(isIP(o.servername) ? {} : { servername: o.servername }),
    clientId: o.deviceId,
    username: iotHubUsername(o.iothubHostname, o.deviceId),
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 2000,
    connectTimeout: 10_000,
  });
  const socket = client.stream as unknown as TLSSocket;
  const peer = socket.getPeerCertificate?.();
  o.onEvent({
    kind: 'connected',
    deviceId: o.deviceId,
    protocol: socket.getProtocol?.() ?? 'TLS',
    serverSubject: peer?.subject?.CN ? `${peer.subject.CN} (issued by ${peer.issuer?.CN ?? '?'})` : 'unknown',
  });
  client.on('message', (topic, payload) =>
    o.onEvent({ kind: 'c2d', deviceId: o.deviceId, topic, payload: payload.toString('utf8') }),
  );
  client.on('error', (err) => o.onEvent({ kind: 'error', deviceId: o.deviceId, message: err.message }));
  await client.subscribeAsync(c2dFilter(o.deviceId), { qos: 1 });

  let seq = 0;
  const send = (): void => {
    seq++;
    const body = JSON.stringify({ seq, temperature: Number((20 + Math.random() * 5).toFixed(2)) });
    const topic = telemetryTopic(o.deviceId, formatPropertyBag({ source: 'demo', seq: String(seq) }));
    client.publishAsync(topic, body, { qos: 1 }).then(
      () => o.onEvent({ kind: 'sent', deviceId: o.deviceId, seq, body }),
      (err: Error) => o.onEvent({ kind: 'error', deviceId: o.deviceId, message: err.message }),
    );
  };
  send();
  const timer = setInterval(send, o.intervalMs ?? 3000);
  return {
    close: async () => {
      clearInterval(timer);
      await client.endAsync();
    },
  };
}
