import { Readable } from 'node:stream';
import aedesPersistence from 'aedes-persistence';

/** A client as the persistence sees it: its id (aedes' Client, or `{ id }`). */
interface ClientRef {
  readonly id: string;
}

/**
 * The outgoing-queue methods of aedes' persistence, in the promise form aedes 1.2 calls them
 * (aedes-persistence's bundled types still describe the older callback form).
 */
interface OutgoingQueue {
  outgoingEnqueue(sub: { readonly clientId: string }, packet: unknown, ...rest: unknown[]): unknown;
  outgoingEnqueueCombi(
    subs: ReadonlyArray<{ readonly clientId: string }>,
    packet: unknown,
    ...rest: unknown[]
  ): unknown;
  outgoingClearMessageId(client: ClientRef, packet: unknown, ...rest: unknown[]): unknown;
  outgoingStream(client: ClientRef): Readable;
}

/**
 * The package is CommonJS (`module.exports = factory`) with ESM-style typings (`export default`):
 * Node hands the factory itself to a default import, TypeScript believes it gets the namespace.
 */
const memoryPersistence = aedesPersistence as unknown as () => unknown;

/** What a client's queued-message stream is when nothing is queued for it. */
class EmptyQueue extends Readable {
  constructor() {
    super({ objectMode: true });
  }
  override _read(): void {
    this.push(null);
  }
}

/**
 * aedes' own in-memory persistence (aedes-persistence), changed in one place: the stream of a
 * client's queued QoS 1 messages. aedes asks for that stream on every CONNECT, clean sessions
 * included, and the memory persistence answers `Readable.from(Readable.from(copy of the queue))`:
 * ≈ 50 µs of async-iterator streams per connection even when the queue is empty, which it is for
 * every clean session and for most persistent ones. This keeps a count of the messages queued per
 * client id and answers an empty stream, built directly, when the count is zero; otherwise the
 * memory persistence answers as before.
 *
 * The count may run high but never low: it rises when a message is queued (before the queue
 * changes) and falls only after the memory persistence confirms it removed one. A count that runs
 * high only costs the slower stream. Queued messages enter only through outgoingEnqueue(Combi) and
 * leave only through outgoingClearMessageId (outgoingUpdate changes a queued message in place).
 */
export function createBrokerPersistence(): unknown {
  const persistence = memoryPersistence() as OutgoingQueue;
  const queued = new Map<string, number>();
  const add = (clientId: string, n: number): void => {
    const next = (queued.get(clientId) ?? 0) + n;
    if (next > 0) queued.set(clientId, next);
    else queued.delete(clientId);
  };

  const enqueue = persistence.outgoingEnqueue.bind(persistence);
  persistence.outgoingEnqueue = (sub, packet, ...rest) => {
    add(sub.clientId, 1);
    return enqueue(sub, packet, ...rest);
  };
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  persistence.outgoingEnqueueCombi = (subs, packet, ...rest) => {
    for (const sub of subs) add(sub.clientId, 1);
    return enqueueCombi(subs, packet, ...rest);
  };
  const clear = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingClearMessageId = (client, packet, ...rest) => {
    const result = clear(client, packet, ...rest);
    // The promise form resolves with the removed message, or undefined when none matched. The
    // callback form (not used by aedes 1.2) returns nothing: the count then stays high.
    if (result instanceof Promise) {
      const id = client.id;
      result.then(
        (removed: unknown) => {
          if (removed) add(id, -1);
        },
        () => {},
      );
    }
    return result;
  };
  const stream = persistence.outgoingStream.bind(persistence);
  persistence.outgoingStream = (client) => (queued.has(client.id) ? stream(client) : new EmptyQueue());
  return persistence;
}
