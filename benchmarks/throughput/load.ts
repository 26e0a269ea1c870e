/**
 * The throughput load generator, in its own process: N sensors (mqtt.js over mTLS) each keep a fixed
 * number of QoS 1 publishes unacknowledged (closed loop), and an optional subscriber on the far end
 * times each arrival against the send time carried in the payload (same process, same clock).
 */
import { performance } from 'node:perf_hooks';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { iotHubUsername } from '../../src/iothub/topics.ts';
import { fromParent, toParent } from '../lib/child.ts';
import { percentile } from '../lib/stats.ts';
import type { LoadInit, LoadResult } from './protocol.ts';

const clients: MqttClient[] = [];
let init: LoadInit;
let running = false;
let measuring = false;
let acked = 0;
let delivered = 0;
let errors = 0;
const latencies: number[] = [];

/** Wall-clock ms with sub-ms resolution, comparable with Date.now() in other processes. */
const wallNow = (): number => performance.timeOrigin + performance.now();

function connectClient(options: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect({ ...options, reconnectPeriod: 0, connectTimeout: 20_000 });
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    client.on('error', () => errors++);
  });
}

async function setUp(): Promise<void> {
  const { edge, sink } = init;
  if (sink) {
    const reader = await connectClient({
      protocol: 'mqtts' as const,
      host: sink.host,
      port: sink.port,
      servername: sink.servername,
      ca: sink.caPem,
      cert: sink.certPem,
      key: sink.keyPem,
      clientId: 'bench-sink-reader',
      clean: true,
    });
    await reader.subscribeAsync('devices/+/messages/events/#', { qos: 0 });
    reader.on('message', (_topic, payload) => {
      if (!measuring) return;
      delivered++;
      const sentAt = (JSON.parse(payload.toString('utf8')) as { s: number }).s;
      latencies.push(wallNow() - sentAt);
    });
    clients.push(reader);
  }
  // Connected a few at a time: a burst of handshakes is not what this benchmark measures.
  for (let i = 0; i < init.sensors.length; i += 5) {
    const batch = init.sensors.slice(i, i + 5).map((s) =>
      connectClient({
        protocol: 'mqtts' as const,
        host: edge.host,
        port: edge.port,
        servername: edge.servername,
        ca: edge.caPem,
        cert: s.certPem,
        key: s.keyPem,
        clientId: s.clientId,
        ...(init.iothubHostname ? { username: iotHubUsername(init.iothubHostname, s.clientId) } : {}),
        protocolVersion: 4 as const,
        clean: true,
      }),
    );
    clients.push(...(await Promise.all(batch)));
  }
}

function startPublishing(): void {
  running = true;
  const sensors = init.sink ? clients.slice(1) : clients;
  const padding = 'x'.repeat(Math.max(0, init.payloadBytes - 40));
  sensors.forEach((client, i) => {
    const id = init.sensors[i]?.clientId as string;
    const topic = `devices/${id}/messages/events/`;
    let n = 0;
    const publishOne = (): void => {
      if (!running) return;
      const payload = JSON.stringify({ s: wallNow(), n: n++, p: padding });
      client.publish(topic, payload, { qos: 1 }, (err) => {
        if (err) {
          errors++;
          return;
        }
        if (measuring) acked++;
        publishOne();
      });
    };
    for (let w = 0; w < init.windowPerSensor; w++) publishOne();
  });
}

async function run(warmupMs: number, measureMs: number): Promise<LoadResult> {
  startPublishing();
  await new Promise((r) => setTimeout(r, warmupMs));
  acked = 0;
  delivered = 0;
  latencies.length = 0;
  const windowStart = wallNow();
  measuring = true;
  toParent({ type: 'measuring' });
  await new Promise((r) => setTimeout(r, measureMs));
  measuring = false;
  const windowEnd = wallNow();
  running = false;
  return {
    acked,
    delivered,
    seconds: (windowEnd - windowStart) / 1000,
    latencyP50Ms: latencies.length ? percentile(latencies, 50) : null,
    latencyP99Ms: latencies.length ? percentile(latencies, 99) : null,
    windowStart,
    windowEnd,
    errors,
  };
}

fromParent(async (message) => {
  switch (message.type) {
    case 'init': {
      init = message.init as LoadInit;
      await setUp();
      toParent({ type: 'ready', id: message.id });
      break;
    }
    case 'run': {
      const result = await run(message.warmupMs as number, message.measureMs as number);
      toParent({ type: 'result', id: message.id, result });
      break;
    }
    case 'close': {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      toParent({ type: 'closed', id: message.id });
      process.exit(0);
    }
  }
});
toParent({ type: 'loaded' });
