import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { REPO, runScript } from './run.js';

/** A temp folder removed when the current test finishes (call inside a test). */
export function tempDir(prefix = 'healthmate-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
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
