/** Where the scripts that act on a running stack (backups, pgBackRest, PITR) find its files: deployed, else rendered. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { firstDbHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError } from '../errors.js';
import { distBundleDir, hostCurrentDir, statePaths } from '../paths.js';
import { bundleFolder } from './bundle.js';

/**
 * A file of the stack as a host runs it: the deployed release, else the bundle
 * only rendered here (dist/<env>, or dist/<env>/<folder> with several hosts).
 */
export function stackFile(deployDir: string, envName: string, relative: string, folder = ''): string {
  const deployed = join(hostCurrentDir(deployDir, folder), relative);
  return existsSync(deployed) ? deployed : join(distBundleDir(envName, folder), relative);
}

/**
 * A file of the first db host's stack, where the scripts acting on one PostgreSQL
 * (backup-db --compose, the pgBackRest scripts) run: with several hosts its own
 * folder (DOCKER_HOST names its engine).
 */
export function dbStackFile(env: LoadedEnv, relative: string): string {
  return stackFile(statePaths(env).deploy, env.name, relative, bundleFolder(env.inventory, firstDbHost(env.inventory)));
}

/** Refuses a stack file that is not there, before a compose command fails on it with a traceback. */
export function requireStackFile(file: string, envName: string, otherwise: string): string {
  if (!existsSync(file))
    throw new BadInputError(
      `${file} does not exist: this host has no deployed release and no rendered ${envName} bundle.`,
      `render it with npx tsx scripts/render.ts --env ${envName} (or deploy), or ${otherwise}`,
    );
  return file;
}
