/**
 * Cleanup that must run even on Ctrl-C or SIGTERM (locks, partial files,
 * temp dirs). Handlers run last-registered first, once.
 */
type Cleanup = () => void | Promise<void>;
const handlers: Cleanup[] = [];
let installed = false;

export function addCleanup(handler: Cleanup): () => void {
  handlers.push(handler);
  installSignalHandlers();
  return () => {
    const index = handlers.indexOf(handler);
    if (index >= 0) handlers.splice(index, 1);
  };
}

export async function runCleanups(): Promise<void> {
  while (handlers.length > 0) {
    const handler = handlers.pop() as Cleanup;
    try {
      await handler();
    } catch (error) {
      process.stderr.write(`warning: cleanup failed: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\ninterrupted by ${signal}: cleaning up\n`);
      void runCleanups().finally(() => {
        // Die by the same signal so callers (cron, CI) see how it ended.
        process.kill(process.pid, signal);
      });
    });
  }
}
