import { privateTempDir } from '../cleanup.js';
import type { EnvArgs } from '../cli.js';
import { COMPOSE_V2, detectCompose } from '../compose/engine.js';
import type { LoadedEnv } from '../env/load.js';
import { SCHEMA, type VarName } from '../env/schema.js';
import { BadInputError } from '../errors.js';
import { log } from '../log.js';
import { type StatePaths, statePaths } from '../paths.js';
import { type EngineHost, engineHost } from './host.js';
import { buildPlan, type DeployPlan, type PlanInput } from './plan.js';
import { releaseId } from './releases.js';
import { readState } from './state.js';
import { type DeployStore, deployStore } from './store.js';

/** What every deploy step gets: the plan, its input, the state folders and the engine host. */
export interface DeployContext {
  plan: DeployPlan;
  input: PlanInput;
  paths: StatePaths;
  host: EngineHost;
  /** Lock, state.json and audit log: on the engine's host. */
  store: DeployStore;
  dryRun: boolean;
}

/** Builds the plan and everything the executor needs from the parsed CLI and env. */
export async function deployContext(args: EnvArgs, env: LoadedEnv, options: { skipBackup: boolean; skipChecks: string[]; now?: Date }): Promise<DeployContext> {
  const host = engineHost();
  let flavor = await detectCompose();
  if (!flavor) {
    if (!args.dryRun)
      throw new BadInputError('neither `docker compose` (v2) nor docker-compose (v1) is installed.', 'install docker-compose-plugin or docker-compose');
    log.warn('no Compose is installed here; the plan shows Compose v2 commands.');
    flavor = COMPOSE_V2;
  }
  const paths = statePaths(env);
  const store = deployStore(host, paths.deploy);
  const state = readState(store);
  const overrides = Object.fromEntries(Object.entries(args.overrides).filter(([name]) => name in SCHEMA)) as Record<VarName, string>;
  const input: PlanInput = {
    env,
    ...(args.envFile ? { envFile: args.envFile } : {}),
    overrides,
    flavor,
    host,
    releaseId: releaseId(env.values.BACKEND_TAG, options.now),
    ...(state.current ? { previous: state.current } : {}),
    skipBackup: options.skipBackup,
    // Each one a check name already (its option kind); given twice is harmless.
    skipChecks: [...new Set(options.skipChecks)],
    asRoot: process.getuid?.() === 0,
  };
  return { plan: buildPlan(input), input, paths, host, store, dryRun: args.dryRun };
}

/** A temp folder for the dry run's render, removed on every exit path. */
export function scratchDir(): string {
  return privateTempDir('healthmate-deploy-').path;
}
