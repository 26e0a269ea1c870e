/**
 * The contract between the broker (downstream side) and the upstream link. The broker depends only on
 * this interface; the composition root (src/gateway.ts) passes the real implementation in.
 */
export interface TelemetryMessage {
  /** Device the message is for (from the topic), which may differ from the connection's device. */
  readonly deviceId: string;
  /** The authenticated connection that sent it (IoT Hub's connection-device-id). */
  readonly connectionDeviceId: string;
  /** Full MQTT topic as received: devices/{id}/messages/events/{property-bag}. */
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1;
  /** When the gateway received it, ms since epoch. */
  readonly receivedAt: number;
}

export interface C2dMessage {
  readonly deviceId: string;
  /** Full topic: devices/{id}/messages/devicebound/{property-bag}. */
  readonly topic: string;
  readonly payload: Buffer;
}

export type UpstreamState = 'connected' | 'connecting' | 'offline' | 'refused';

export interface Forwarder {
  /**
   * QoS 1: resolves only once the message is durably stored (the broker PUBACKs after that).
   * Rejects with GH_ERR_STORE_FULL when the store's policy refuses it, GH_ERR_STORE on I/O failure.
   */
  enqueue(message: TelemetryMessage): Promise<void>;
  /** QoS 0: best effort, never blocks; may drop when offline or under pressure. */
  forwardBestEffort(message: TelemetryMessage): void;
  /** Starts (refcounted) the upstream C2D subscription for a device; messages arrive on `onC2d`. */
  watchC2d(deviceId: string): void;
  unwatchC2d(deviceId: string): void;
  /**
   * Registers the single handler the broker uses to deliver C2D messages to device sessions. The
   * handler may return `false` when no session took the message (device offline): the upstream then
   * holds it (bounded by max_c2d_per_device) and offers it again on the device's next `watchC2d`.
   */
  onC2d(handler: (message: C2dMessage) => unknown): void;
  state(): UpstreamState;
  close(): Promise<void>;
}
