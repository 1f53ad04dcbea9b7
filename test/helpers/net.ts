import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * How long a wait may last before it counts as hung. A wait ends as soon as its
 * condition holds, so the budget is generous: a busy 2-core box (two CPU hogs
 * beside the suite) runs the tests several times slower than a quiet one.
 */
export const WAIT_BUDGET_MS = 180_000;

/** Polls `probe` until it returns true or the budget runs out. */
export async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = WAIT_BUDGET_MS, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
