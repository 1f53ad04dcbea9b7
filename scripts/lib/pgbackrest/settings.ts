import { join } from 'node:path';
import { composeCommand } from '../backup/pg.js';
import { etcdctl } from '../cluster/commands.js';
import { firstDbHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { statePaths } from '../paths.js';
import { dbStackFile, requireStackFile } from '../render/stack-files.js';
import { composeExecRunner, localRunner, type PgbackrestRunner, type PgbackrestSide } from './command.js';

/** What the pgBackRest scripts take from the env, resolved once. */
export interface PgbackrestSettings {
  envName: string;
  stanza: string;
  topology: 'repository-host' | 'single-host';
  textfileDir: string;
  project: string;
  /** The first db host's compose file (its `pgbackrest` service) and the repository host's. */
  composeFiles: Record<PgbackrestSide, string>;
  /** The Patroni cluster PostgreSQL runs in: its scope, and etcdctl against the first db host's etcd member (in its container). */
  cluster: { scope: string; etcdctl: (args: string[]) => string[] };
}

export function pgbackrestSettings(env: LoadedEnv): PgbackrestSettings {
  return {
    envName: env.name,
    stanza: env.values.PGBACKREST_STANZA,
    topology: env.values.PGBACKREST_TOPOLOGY,
    textfileDir: statePaths(env).textfile,
    project: env.values.COMPOSE_PROJECT_NAME,
    composeFiles: {
      db: dbStackFile(env, 'docker-compose.yml'),
      repo: dbStackFile(env, join('repo-host', 'docker-compose.yml')),
    },
    cluster: { scope: env.values.CLUSTER_NAME, etcdctl: (args) => etcdctl(firstDbHost(env.inventory), env.values.ETCD_CLIENT_PORT, args) },
  };
}

/** The repository host's compose project: its own name, so the stack's `down` never touches it on a single host. */
export function repoProject(settings: PgbackrestSettings): string {
  return `${settings.project}-pgbackrest`;
}

/** The side's compose file; bad input when neither a deployed release nor a rendered bundle has it. */
export function composeFile(settings: PgbackrestSettings, side: PgbackrestSide, otherwise = 'run this where the stack is deployed'): string {
  return requireStackFile(settings.composeFiles[side], settings.envName, otherwise);
}

/** `--local`: the pgbackrest binary here; otherwise the side's compose service through the engine. */
export async function pgbackrestRunner(settings: PgbackrestSettings, side: PgbackrestSide, local: boolean): Promise<PgbackrestRunner> {
  if (local) return localRunner(side);
  const project = side === 'db' ? settings.project : repoProject(settings);
  return composeExecRunner(side, await composeCommand(), project, composeFile(settings, side, 'pass --local to run the pgbackrest binary of this host'));
}
