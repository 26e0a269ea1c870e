/**
 * Load-generator child process. Messages from the driver:
 *   start {config}  → opens clients; answers `started` (hold mode: once every connection is open or failed)
 *   mark            → starts a measured window; answers `marked`
 *   stop            → ends the window; answers `result {window}` once in-flight attempts have drained
 *   release         → hold mode: DISCONNECTs every held connection; answers `released`
 * It also sends `progress` every second and stops by itself after config.maxRunMs.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import { fromParent, toParent } from '../child.ts';
import { encodeConnect } from '../mqtt-wire.ts';
import type { LoadConfig, ProgressCounts, WindowCounts } from './protocol.ts';
import { type Attempt, attemptConnect, type ConnectTarget, type OpenConnection } from './wire-client.ts';

class Window {
  readonly started = process.hrtime.bigint();
  readonly cpu = process.cpuUsage();
  completed = 0;
  failed = 0;
  resumed = 0;
  readonly outcomes: Record<string, number> = {};
  readonly failures: Record<string, number> = {};
  readonly latenciesMs: number[] = [];

  record(attempt: Attempt, expect: LoadConfig['expect']): boolean {
    const asExpected =
      (expect === 'accept' && attempt.kind === 'accepted') ||
      (expect === 'refuse' && attempt.kind === 'refused');
    if (asExpected) {
      const key = attempt.kind === 'refused' ? attempt.how : 'accepted';
      this.outcomes[key] = (this.outcomes[key] ?? 0) + 1;
      this.completed++;
      this.latenciesMs.push(Math.round(attempt.latencyMs * 1000) / 1000);
      if (attempt.kind === 'accepted' && attempt.resumed) this.resumed++;
    } else {
      const key = attempt.kind === 'accepted' ? 'accepted-unexpectedly' : `${attempt.kind}:${attempt.how}`;
      this.failures[key] = (this.failures[key] ?? 0) + 1;
      this.failed++;
    }
    return asExpected;
  }

  snapshot(): WindowCounts {
    const cpu = process.cpuUsage(this.cpu);
    return {
      elapsedMs: Number(process.hrtime.bigint() - this.started) / 1e6,
      completed: this.completed,
      outcomes: { ...this.outcomes },
      failures: { ...this.failures },
      latenciesMs: [...this.latenciesMs],
      resumed: this.resumed,
      clientCpuMicros: cpu.user + cpu.system,
    };
  }
}

let stopping = false;
let window = new Window();
const loops: Promise<void>[] = [];
const held: OpenConnection[] = [];

function targets(cfg: LoadConfig): ConnectTarget[] {
  const contexts = new Map<string, SecureContext>();
  return cfg.identities.map((identity) => {
    let secureContext = contexts.get(identity.certPem);
    if (!secureContext) {
      secureContext = createSecureContext({ ca: cfg.caPem, cert: identity.certPem, key: identity.keyPem });
      contexts.set(identity.certPem, secureContext);
    }
    const username = cfg.username?.replaceAll('{id}', identity.clientId);
    return {
      host: cfg.host,
      port: cfg.port,
      servername: cfg.servername,
      secureContext,
      connectPacket: encodeConnect({
        clientId: identity.clientId,
        username,
        keepAliveSecs: cfg.keepAliveSecs,
        cleanSession: true,
      }),
      timeoutMs: cfg.timeoutMs,
    };
  });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function clientLoop(cfg: LoadConfig, target: ConnectTarget): Promise<void> {
  let session: Buffer | undefined;
  const keep = (s: Buffer): void => {
    session = s;
  };
  while (!stopping) {
    const conn = await attemptConnect(target, cfg.resume ? session : undefined, keep);
    const asExpected = window.record(conn.attempt, cfg.expect);
    if (conn.attempt.kind === 'accepted') await conn.finish();
    // A server that refuses the TCP connection would otherwise be hammered in a tight loop.
    if (!asExpected) await pause(20);
  }
}

async function holdAll(cfg: LoadConfig, all: ConnectTarget[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (!stopping && next < all.length) {
      const target = all[next++] as ConnectTarget;
      const conn = await attemptConnect(target, undefined, () => {});
      window.record(conn.attempt, cfg.expect);
      if (conn.attempt.kind === 'accepted') held.push(conn);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cfg.holdConcurrency) }, worker));
}

function progress(): ProgressCounts {
  return { completed: window.completed, failed: window.failed, open: held.length };
}

fromParent(async (message) => {
  switch (message.type) {
    case 'start': {
      const cfg = message.config as LoadConfig;
      const all = targets(cfg);
      setInterval(() => toParent({ type: 'progress', ...progress() }), 1_000).unref();
      setTimeout(() => {
        stopping = true;
        for (const c of held) c.destroy();
        setTimeout(() => process.exit(2), 5_000).unref();
      }, cfg.maxRunMs).unref();
      window = new Window();
      if (cfg.mode === 'hold') {
        await holdAll(cfg, all);
        toParent({ type: 'started', id: message.id, window: window.snapshot() });
      } else {
        for (const t of all) loops.push(clientLoop(cfg, t));
        toParent({ type: 'started', id: message.id });
      }
      break;
    }
    case 'mark':
      window = new Window();
      toParent({ type: 'marked', id: message.id });
      break;
    case 'stop': {
      const result = window.snapshot();
      stopping = true;
      // Bounded: every attempt ends within the connect timeout.
      await Promise.all(loops);
      toParent({ type: 'result', id: message.id, window: result });
      break;
    }
    case 'release':
      stopping = true;
      await Promise.all(held.splice(0).map((c) => c.finish()));
      toParent({ type: 'released', id: message.id });
      break;
  }
});
toParent({ type: 'loaded' });
