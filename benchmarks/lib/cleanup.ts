/**
 * Things a benchmark must stop even when interrupted (servers, temp dirs). Children that speak IPC
 * exit when the parent goes; Mosquitto does not, so an interrupted run closes what is registered here.
 */
const pending = new Set<() => Promise<void>>();
let installed = false;

export function onInterrupt(close: () => Promise<void>): () => void {
  pending.add(close);
  if (!installed) {
    installed = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        process.stderr.write(`\n${signal}: stopping servers…\n`);
        const all = [...pending].map((c) => c().catch(() => {}));
        const timer = setTimeout(() => process.exit(130), 10_000);
        void Promise.all(all).then(() => {
          clearTimeout(timer);
          process.exit(130);
        });
      });
    }
  }
  return () => pending.delete(close);
}
