import type { MqttClient, Packet } from 'mqtt';

/** Resolves when `client` has closed, or rejects after `ms`. */
export function closed(client: MqttClient, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve();
    const timer = setTimeout(() => reject(new Error('client still connected')), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Resolves with the next message on `client`, or rejects after `ms`. */
export function nextMessage(client: MqttClient, ms = 10_000): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message arrived')), ms);
    client.once('message', (topic, payload) => {
      clearTimeout(timer);
      resolve({ topic, payload });
    });
  });
}

/** Subscribes and resolves with the SUBACK's granted codes (128 = refused), which mqtt.js otherwise turns into an error. */
export function subscribeGranted(
  client: MqttClient,
  filters: string[],
  qos: 0 | 1 = 1,
  ms = 10_000,
): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no SUBACK arrived')), ms);
    const onPacket = (packet: Packet): void => {
      if (packet.cmd !== 'suback') return;
      client.off('packetreceive', onPacket);
      clearTimeout(timer);
      resolve((packet.granted as number[]).slice());
    };
    client.on('packetreceive', onPacket);
    client.subscribe(filters, { qos }, () => {});
  });
}
