import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvName } from '../env/spec.js';
import { BadInputError } from '../errors.js';
import { MANIFEST } from './bundle.js';

/**
 * Refuses a --bundle (or --bundle-dir) that is missing, a plain file, or, when
 * `env` is given, a bundle whose MANIFEST.json names another env: one
 * sentence instead of a raw ENOENT or dozens of validator errors.
 */
export function checkBundleFolder(dir: string, shown: string, env?: EnvName): void {
  let isFolder: boolean;
  try {
    isFolder = statSync(dir).isDirectory();
  } catch {
    throw new BadInputError(`bundle folder ${shown} does not exist.`, `render one with npx tsx scripts/render.ts${env ? ` --env ${env}` : ''}`);
  }
  if (!isFolder) throw new BadInputError(`${shown} is a file, not a bundle folder.`, 'pass the rendered folder, such as dist/prod');
  if (!env) return;
  const bundleEnv = manifestEnv(dir);
  if (bundleEnv !== undefined && bundleEnv !== env) {
    throw new BadInputError(
      `${shown} is a ${bundleEnv} bundle (its ${MANIFEST} says so), not a ${env} one.`,
      `pass dist/${env}, or --env ${bundleEnv} for this bundle`,
    );
  }
}

/** The env a rendered bundle was made for, from its MANIFEST.json (undefined when it has none). */
export function manifestEnv(dir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const env = (JSON.parse(text) as { env?: unknown }).env;
    return typeof env === 'string' ? env : undefined;
  } catch {
    throw new BadInputError(`${join(dir, MANIFEST)} is not valid JSON; render the bundle again.`);
  }
}
