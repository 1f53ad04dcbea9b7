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

/**
 * What runs when the process ends without runCli's `finally`: an exception
 * thrown in a callback, a promise nobody settles, process.exit. Only the
 * synchronous part of each cleanup can run then, which is what removing a
 * temp folder holding a passfile needs.
 */
function runCleanupsAtExit(): void {
  while (handlers.length > 0) {
    const handler = handlers.pop() as Cleanup;
    try {
      void Promise.resolve(handler()).catch(() => undefined);
    } catch {
      // The process is ending: one failed cleanup must not stop the others.
    }
  }
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  process.once('exit', runCleanupsAtExit);
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
