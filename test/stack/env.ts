import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envExampleText } from '../../scripts/lib/env/example.js';
import { type LoadedEnv, loadEnv } from '../../scripts/lib/env/load.js';
import type { EnvName } from '../../scripts/lib/env/spec.js';
import { tempDir } from '../helpers/tmp.js';

/** The schema's example env written to a temp file (independent of a stale .env.example). */
export function exampleEnvFile(dir = tempDir()): string {
  const file = join(dir, 'env.example');
  writeFileSync(file, envExampleText());
  return file;
}

/** A loaded env for plan tests, with STATE_DIR in a temp folder. */
export function testEnv(name: EnvName, overrides: Record<string, string> = {}): { env: LoadedEnv; envFile?: string; stateDir: string } {
  const dir = tempDir('healthmate-stack-');
  const stateDir = join(dir, 'state');
  const envFile = name === 'prod' ? exampleEnvFile(dir) : undefined;
  const env = loadEnv({
    env: name,
    ...(envFile ? { envFile } : {}),
    overrides: { STATE_DIR: stateDir, ...overrides },
    processEnv: {},
    purpose: 'plan',
  });
  return { env, ...(envFile ? { envFile } : {}), stateDir };
}
