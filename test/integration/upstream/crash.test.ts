import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '../../helpers/pki.ts';
import {
  GATEWAY_ID,
  makeIdentity,
  payloadNumber,
  readAllMessages,
  SENSOR_IDS,
  startTestHub,
  waitForMessages,
} from './helpers.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'producer.ts');
const COUNT = 3000;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Child {
  readonly process: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

function startChild(configPath: string): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, configPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { process: child, lines, exited };
}

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('store-and-forward across kill -9', () => {
  it('every message whose enqueue resolved before the kill reaches the hub after restart', async () => {
    const hubTmp = await makeTempDir('gh-up-hub-');
    const gwTmp = await makeTempDir('gh-up-gw-');
    cleanups.push(hubTmp.cleanup, gwTmp.cleanup);
    const identity = await makeIdentity();
    const hub = await startTestHub(hubTmp.dir, identity);
    cleanups.push(() => hub.close());

    const base = {
      dataDir: join(gwTmp.dir, 'data'),
      port: hub.mqttPort,
      caPem: hub.rootCaPem,
      certPem: identity.chainPem,
      keyPem: identity.keyPem,
      deviceId: GATEWAY_ID,
      sensors: SENSOR_IDS,
      count: COUNT,
    };
    const produceCfg = join(gwTmp.dir, 'produce.json');
    const drainCfg = join(gwTmp.dir, 'drain.json');
    await writeFile(produceCfg, JSON.stringify({ ...base, mode: 'produce' }));
    await writeFile(drainCfg, JSON.stringify({ ...base, mode: 'drain' }));

    const producer = startChild(produceCfg);
    // Kill in the middle of the stream: some messages upstream, some in flight, some only stored.
    await until(() => producer.lines.length >= COUNT / 2, 30_000, 'half the messages acknowledged');
    producer.process.kill('SIGKILL');
    await producer.exited;
    const acked = new Set(producer.lines.filter((l) => l.startsWith('A ')).map((l) => Number(l.slice(2))));
    expect(acked.size).toBeGreaterThanOrEqual(COUNT / 2);
    const atHubBeforeRestart = (await waitForMessages(hub, COUNT, 200)).length;

    const drainer = startChild(drainCfg);
    await until(
      () => drainer.lines.some((l) => l.startsWith('DRAINED')),
      30_000,
      'store drained after restart',
    );
    expect(await drainer.exited).toBe(0);

    // DRAINED means the hub acknowledged everything, so its store is complete: read all of it
    // (duplicates included, which is why waiting for `acked.size` rows would stop short).
    const got = await readAllMessages(hub);
    const numbers = got.map(payloadNumber);
    const unique = new Set(numbers);
    const missing = [...acked].filter((n) => !unique.has(n));
    const duplicates = numbers.length - unique.size;
    console.info(
      `kill -9 test: ${acked.size} acknowledged before the kill, ${atHubBeforeRestart} at the hub before restart, ` +
        `${numbers.length} at the hub after, ${duplicates} duplicates (allowed, same $.mid), ${missing.length} missing`,
    );
    expect(missing).toEqual([]);
    // The restart had work to do: the kill left stored messages that only the new process delivered.
    expect(numbers.length).toBeGreaterThan(atHubBeforeRestart);
    // Per-device order holds across the restart (duplicates aside).
    for (const id of SENSOR_IDS) {
      const seen = got.filter((m) => m.deviceId === id).map(payloadNumber);
      const firsts = seen.filter((n, i) => seen.indexOf(n) === i);
      expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    }
    // A resent message carries the id it was first sent with.
    const mids = new Map<number, Set<string>>();
    for (const m of got) {
      const set = mids.get(payloadNumber(m)) ?? new Set<string>();
      set.add(m.properties['$.mid'] ?? '');
      mids.set(payloadNumber(m), set);
    }
    expect([...mids.values()].every((s) => s.size === 1 && !s.has(''))).toBe(true);
  });
});
