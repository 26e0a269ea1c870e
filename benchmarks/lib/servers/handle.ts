/**
 * The servers compared in every run; `aedes` (naive aedes integration) on request. `external` is a
 * broker the user points the generator at.
 */
export type ServerName = 'gatehouse' | 'node' | 'mosquitto' | 'aedes' | 'external';

/** A running server under test, whatever it is made of. */
export interface ServerHandle {
  readonly name: ServerName;
  readonly host: string;
  readonly port: number;
  /** The server's process (its descendants are counted too); undefined when not local or unknown. */
  readonly rootPid: number | undefined;
  /** Asks the server to collect garbage (Node servers started with --expose-gc); undefined when it cannot. */
  gc(): Promise<ServerMemory | undefined>;
  /** TLS connections the server has completed since it started (Node servers); undefined when unknown. */
  served(): Promise<number | undefined>;
  close(): Promise<void>;
}

/** What a Node server reports after a forced GC (process.memoryUsage()), bytes. */
export interface ServerMemory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}
