/**
 * The hosts a deploy reaches, one per inventory host: how its commands reach
 * its engine, where its bundle sits in dist/<env> and in a release, and the
 * folder its stack runs from.
 */
import { join } from 'node:path';
import { type ComposeFlavor, composeBase } from '../compose/engine.js';
import { askEngine, engineName, failureOf } from '../docker-engine.js';
import { dockerHostOf, type InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { errorMessage, OperationError } from '../errors.js';
import { hostCurrentDir, statePaths } from '../paths.js';
import { bundleFolder } from '../render/bundle.js';
import { type EngineHost, engineHost } from './host.js';

export interface HostTarget {
  host: InventoryHost;
  /** Its bundle inside dist/<env> and inside a release: '' with one host, its name with several. */
  folder: string;
  /** DOCKER_HOST for its docker and compose commands: its ssh:// engine, or the caller's (undefined: the local socket) for `local`. */
  dockerHost: string | undefined;
  /** Where its files are copied to and its host commands run (ssh for a remote engine). */
  engine: EngineHost;
  /** The stable folder its stack runs from, the same path on its host and here. */
  currentDir: string;
  /** `<compose> -p <project> -f <currentDir>/docker-compose.yml`. */
  compose: string[];
}

/** Every host of the inventory as the deploy reaches it, in inventory order. `callerDockerHost`: what `local` means. */
export function hostTargets(env: LoadedEnv, flavor: ComposeFlavor, callerDockerHost = process.env.DOCKER_HOST): HostTarget[] {
  const deploy = statePaths(env).deploy;
  return env.inventory.hosts.map((host) => {
    const folder = bundleFolder(env.inventory, host);
    const dockerHost = dockerHostOf(host) ?? callerDockerHost;
    const currentDir = hostCurrentDir(deploy, folder);
    return {
      host,
      folder,
      dockerHost,
      engine: engineHost(dockerHost),
      currentDir,
      compose: composeBase(flavor, env.values.COMPOSE_PROJECT_NAME, join(currentDir, 'docker-compose.yml')),
    };
  });
}

export function hasRole(target: HostTarget, role: 'db' | 'app'): boolean {
  return target.host.roles.includes(role);
}

/** For the plan and messages: `DOCKER_HOST=<engine> ` when the host names its own engine (a `local` host keeps the caller's). */
export function engineNote(target: HostTarget): string {
  return target.host.engine.kind === 'ssh' ? `DOCKER_HOST=${target.dockerHost} ` : '';
}

export function describeHost(target: HostTarget): string {
  return `${target.host.name} (${target.host.roles.join(',')}; engine ${target.engine.kind === 'ssh' ? engineName(target.dockerHost) : 'local'})`;
}

/**
 * Runs `work` with DOCKER_HOST pointing at the host's engine. The docker CLI,
 * Compose and every engine question read DOCKER_HOST from this process's
 * environment, so the deploy works on one host at a time and points it at
 * that host while it does (a Ctrl-C cleanup then still reaches the engine it
 * was working on). Never run two of these at once.
 */
export async function onEngine<T>(target: HostTarget, work: () => Promise<T>): Promise<T> {
  const saved = process.env.DOCKER_HOST;
  setDockerHost(target.dockerHost);
  try {
    return await work();
  } finally {
    setDockerHost(saved);
  }
}

function setDockerHost(value: string | undefined): void {
  if (value === undefined) delete process.env.DOCKER_HOST;
  else process.env.DOCKER_HOST = value;
}

export interface EngineAnswerOf {
  target: HostTarget;
  /** The engine's version, or why it did not answer. */
  version?: string;
  problem?: string;
}

/**
 * Asks every host's engine for its version, one after the other. One that
 * cannot be reached is reported (a dry run goes on with a warning); one that
 * accepts and does not answer within HEALTHMATE_ENGINE_TIMEOUT stops even a
 * dry run, naming the host (as every bounded engine question does).
 */
export async function probeEngines(targets: HostTarget[]): Promise<EngineAnswerOf[]> {
  const answers: EngineAnswerOf[] = [];
  for (const target of targets) {
    try {
      const answer = await onEngine(target, () => askEngine(['docker', 'version', '--format', '{{.Server.Version}}']));
      answers.push(answer.code === 0 ? { target, version: answer.stdout.trim() } : { target, problem: failureOf(answer) });
    } catch (error) {
      throw new OperationError(`host ${target.host.name}: ${errorMessage(error)}`, error instanceof OperationError ? error.hint : undefined);
    }
  }
  return answers;
}

/**
 * Before anything changes anywhere: every host's engine must have answered.
 * The first that did not stops the deploy with one sentence naming it (exit 1).
 */
export function refuseUnreachable(answers: EngineAnswerOf[]): void {
  const failed = answers.find((a) => a.problem !== undefined);
  if (!failed) return;
  throw new OperationError(
    `host ${failed.target.host.name}'s Docker engine (${engineName(failed.target.dockerHost)}) cannot be reached: ${failed.problem}; nothing was started or stopped on any host.`,
    failed.target.engine.kind === 'ssh'
      ? `check that ssh reaches ${failed.target.engine.target} and Docker runs there (the inventory's engine= of host ${failed.target.host.name})`
      : 'start Docker, or fix DOCKER_HOST',
  );
}
