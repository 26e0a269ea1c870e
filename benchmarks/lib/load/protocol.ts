import type { BenchIdentity } from '../fixtures.ts';

/** What the driver tells a load-generator child (see ./load-worker.ts for the message flow). */
export interface LoadConfig {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  /** Trust anchors for the server certificate. */
  readonly caPem: string;
  /** One client per identity (loop mode) or one connection per identity (hold mode). */
  readonly identities: readonly BenchIdentity[];
  /** Username template per client: undefined sends none. `{id}` is replaced by the client id. */
  readonly username: string | undefined;
  /** Reuse each client's TLS session ticket on its next connect. */
  readonly resume: boolean;
  /** What the server should answer: CONNACK 0, or a refusal (unknown devices). */
  readonly expect: 'accept' | 'refuse';
  readonly timeoutMs: number;
  readonly keepAliveSecs: number;
  /** loop: connect/CONNACK/DISCONNECT again and again; hold: open every connection once and keep it. */
  readonly mode: 'loop' | 'hold';
  /** Hold mode: connections being opened at once. */
  readonly holdConcurrency: number;
  /** The worker stops by itself after this long, whatever the driver does. */
  readonly maxRunMs: number;
}

/** One measured window (from `mark` to `stop`) of one load process. */
export interface WindowCounts {
  readonly elapsedMs: number;
  /** Attempts that ended as expected: accepted (expect accept) or refused (expect refuse). */
  readonly completed: number;
  /** Expected outcomes by kind (accepted, connack-5, tls-…). */
  readonly outcomes: Record<string, number>;
  /** Unexpected outcomes by kind (timeouts, resets, refusals when acceptance was expected, …). */
  readonly failures: Record<string, number>;
  /** Latency of each completed attempt, ms (connect start to CONNACK or refusal). */
  readonly latenciesMs: number[];
  /** Accepted connections whose TLS session was resumed from a ticket. */
  readonly resumed: number;
  /** The load process's own CPU time over the window, µs. */
  readonly clientCpuMicros: number;
}

export interface ProgressCounts {
  readonly completed: number;
  readonly failed: number;
  /** Hold mode: connections currently open. */
  readonly open: number;
}
