/**
 * Resolves on the first SIGINT or SIGTERM (Ctrl-C, or a service manager stopping the process), or
 * after `timeoutMs` when given (the demo's --duration). Listeners are removed either way.
 */
export function untilStopSignal(timeoutMs?: number): Promise<NodeJS.Signals | 'timeout'> {
  return new Promise((resolve) => {
    const finish = (why: NodeJS.Signals | 'timeout'): void => {
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      if (timer) clearTimeout(timer);
      resolve(why);
    };
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish('timeout'), timeoutMs);
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
  });
}
