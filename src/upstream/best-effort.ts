import type { MqttClient } from 'mqtt';
import type { TelemetryMessage } from './types.ts';

/** QoS 0 messages written but not yet flushed to the socket before new ones are dropped. */
const MAX_OUTSTANDING = 1000;
/** Bytes queued in the upstream socket beyond which QoS 0 is dropped rather than buffered. */
const MAX_SOCKET_BACKLOG = 4 * 1024 * 1024;

/**
 * QoS 0 forwarding: published at once on the live connection, never stored and never waited for.
 * Dropped (and counted) when there is no connection or the connection is backed up, so a device's
 * best-effort stream can never hold up the broker or grow memory.
 */
export class BestEffort {
  sent = 0;
  dropped = 0;
  private outstanding = 0;

  forward(client: MqttClient | undefined, message: TelemetryMessage): void {
    if (
      !client ||
      this.outstanding >= MAX_OUTSTANDING ||
      (client.stream?.writableLength ?? 0) > MAX_SOCKET_BACKLOG
    ) {
      this.dropped++;
      return;
    }
    this.outstanding++;
    client.publish(message.topic, message.payload, { qos: 0 }, (err) => {
      this.outstanding--;
      if (err) this.dropped++;
      else this.sent++;
    });
  }
}
