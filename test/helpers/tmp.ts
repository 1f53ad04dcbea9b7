import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished, type TestContext } from 'vitest';
import { REPO, runScript } from './run.js';

/**
 * A temp folder removed when the current test finishes (call inside a test). A concurrent
 * test passes its context `t`: with tests running side by side, vitest's global hook may
 * hand the removal to another test.
 */
export function tempDir(prefix = 'healthmate-test-', t?: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  (t?.onTestFinished ?? onTestFinished)(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A temp working folder with dist/<env> rendered (dev defaults, or .env.example for prod): the stack's
 * compose files that backup-db --compose and the pgBackRest commands name, and refuse to run without.
 */
export function tempDirWithBundle(env: 'dev' | 'prod', stateDir: string): string {
  const dir = tempDir();
  const envFile = env === 'prod' ? ['--env-file', join(REPO, '.env.example')] : [];
  const result = runScript('render.ts', ['--env', env, ...envFile, '--set', `STATE_DIR=${stateDir}`], { cwd: dir });
  if (result.code !== 0) throw new Error(`render.ts --env ${env} failed: ${result.stderr}`);
  return dir;
}
