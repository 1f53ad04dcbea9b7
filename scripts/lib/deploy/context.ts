import { privateTempDir } from '../cleanup.js';
import type { EnvArgs } from '../cli.js';
import { COMPOSE_V2, detectCompose } from '../compose/engine.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError } from '../errors.js';
import { log } from '../log.js';
import { type StatePaths, statePaths } from '../paths.js';
import { passedOverrides } from './argv.js';
import type { EngineHost } from './host.js';
import { type EngineAnswerOf, type HostTarget, hostTargets, probeEngines } from './hosts.js';
import { buildPlan, type DeployPlan, type PlanInput } from './plan.js';
import { releaseId } from './releases.js';
import { readState } from './state.js';
import { type DeployStore, deployStore } from './store.js';

/** What every deploy step gets: the plan, its input, the state folders and the host it acts on. */
export interface DeployContext {
  plan: DeployPlan;
  input: PlanInput;
  paths: StatePaths;
  /** The host this context acts on: the first host for the steps that run here, each host for its own steps (forHost). */
  target: HostTarget;
  /** target.engine: where the host's files go and its host commands run. */
  host: EngineHost;
  /** Lock, state.json and audit log: on the inventory's first host. */
  store: DeployStore;
  dryRun: boolean;
  /** Every host's engine and its version (or why it did not answer), asked before anything else. */
  engines: EngineAnswerOf[];
}

/** The same deploy, acting on another host (its engine, its bundle and stack folders). */
export function forHost(ctx: DeployContext, target: HostTarget): DeployContext {
  return { ...ctx, target, host: target.engine };
}

/**
 * Builds the plan and everything the executor needs from the parsed CLI and
 * env. Every host's engine is asked first (the deploy refuses, under its lock,
 * when one did not answer; a dry run only reports it).
 */
export async function deployContext(args: EnvArgs, env: LoadedEnv, options: { skipBackup: boolean; skipChecks: string[]; now?: Date }): Promise<DeployContext> {
  let flavor = await detectCompose();
  if (!flavor) {
    if (!args.dryRun)
      throw new BadInputError('neither `docker compose` (v2) nor docker-compose (v1) is installed.', 'install docker-compose-plugin or docker-compose');
    log.warn('no Compose is installed here; the plan shows Compose v2 commands.');
    flavor = COMPOSE_V2;
  }
  const paths = statePaths(env);
  const hosts = hostTargets(env, flavor);
  const engines = await probeEngines(hosts);
  const first = hosts[0] as HostTarget;
  // The inventory's first host keeps the lock, the release state and the audit log (db-cluster.ts takes the lock there too).
  const store = deployStore(first.engine, paths.deploy);
  const state = readState(store);
  const input: PlanInput = {
    env,
    ...(args.envFile ? { envFile: args.envFile } : {}),
    // Env variables and HOST_ lines: the scripts the deploy calls see the same env and the same inventory.
    overrides: passedOverrides(args.overrides),
    flavor,
    hosts,
    releaseId: releaseId(env.values.BACKEND_TAG, options.now),
    ...(state.current ? { previous: state.current } : {}),
    skipBackup: options.skipBackup,
    // Each one a check name already (its option kind); given twice is harmless.
    skipChecks: [...new Set(options.skipChecks)],
    asRoot: process.getuid?.() === 0,
  };
  return { plan: buildPlan(input), input, paths, target: first, host: first.engine, store, dryRun: args.dryRun, engines };
}

/** A temp folder for the dry run's render, removed on every exit path. */
export function scratchDir(): string {
  return privateTempDir('healthmate-deploy-').path;
}
