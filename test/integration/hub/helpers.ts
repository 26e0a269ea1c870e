import { request } from 'node:https';

export { closed, nextMessage, subscribeGranted } from '../../helpers/mqtt.ts';

import { PassThrough } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type HubHandle, startHub } from '../../../src/hub/index.ts';
import { iotHubUsername } from '../../../src/iothub/topics.ts';
import { createLogger, type Logger } from '../../../src/logger.ts';
import { makeTempDir, type TestCred } from '../../helpers/pki.ts';
import { refusalOf } from '../../helpers/refusal.ts';

export interface TestHub {
  hub: HubHandle;
  dir: string;
  /** Every JSON log line the hub wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  restart(): Promise<HubHandle>;
  cleanup(): Promise<void>;
}

/** A hub on port 0 in its own temp dir, logging (debug) into an in-memory sink the test can read. */
export async function startTestHub(): Promise<TestHub> {
  const { dir, cleanup } = await makeTempDir('gatehouse-hub-');
  const logs: Array<Record<string, unknown>> = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
  });
  const logger: Logger = createLogger({ level: 'debug', destination: sink });
  const start = () => startHub({ dataDir: dir, mqttPort: 0, apiPort: 0, hostname: 'localhost', logger });
  const t: TestHub = {
    hub: await start(),
    dir,
    logs,
    async restart() {
      await t.hub.close();
      t.hub = await start();
      return t.hub;
    },
    async cleanup() {
      await t.hub.close();
      await cleanup();
    },
  };
  return t;
}

export interface ConnectOptions extends Partial<IClientOptions> {
  /** Send no client certificate at all. */
  readonly noCert?: boolean;
}

/** mqtt.js options for connecting to the hub as `deviceId` with `cred`. */
export function deviceOptions(
  hub: HubHandle,
  deviceId: string,
  cred: TestCred | undefined,
  opts: ConnectOptions = {},
): IClientOptions {
  const { noCert, ...rest } = opts;
  return {
    protocol: 'mqtts',
    host: '127.0.0.1',
    port: hub.mqttPort,
    ca: hub.rootCaPem,
    servername: 'localhost',
    clientId: deviceId,
    username: iotHubUsername('localhost', deviceId),
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...(cred && !noCert ? { cert: cred.chainPem, key: cred.keyPem } : {}),
    ...rest,
  };
}

/** An mqtt.js client of the hub; rejects with the CONNACK refusal (code 5) or TLS error. */
export async function connectDevice(
  hub: HubHandle,
  deviceId: string,
  cred: TestCred | undefined,
  opts: ConnectOptions = {},
): Promise<MqttClient> {
  return mqtt.connectAsync(deviceOptions(hub, deviceId, cred, opts));
}

/** The CONNACK return code a refused connection produced (undefined when it connected). */
export function connectRefusal(
  hub: HubHandle,
  deviceId: string,
  cred: TestCred | undefined,
  opts: ConnectOptions = {},
): Promise<number | string | undefined> {
  return refusalOf(() => connectDevice(hub, deviceId, cred, opts));
}

/** Polls `check` every 20 ms until it returns true (bounded by `ms`). */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
}

export interface RawResponse {
  status: number;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** A raw HTTPS request to the hub's API, for the cases the typed client would never send. */
export function rawRequest(
  hub: HubHandle,
  o: {
    method: string;
    path: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
    token?: string;
    cert?: TestCred;
  },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: hub.apiPort,
        method: o.method,
        path: o.path,
        ca: hub.rootCaPem,
        servername: 'localhost',
        agent: false,
        ...(o.cert ? { cert: o.cert.chainPem, key: o.cert.keyPem } : {}),
        headers: {
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
          ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}),
          ...o.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}
