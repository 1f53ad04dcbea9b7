import { setTimeout as sleep } from 'node:timers/promises';
import { $ } from 'zx';
import { OperationError } from '../errors.js';

/** Read-only questions to the Docker engine (DOCKER_HOST is honoured by the docker CLI). */
const quiet = $({ quiet: true, nothrow: true });

/** Server version, or undefined when the engine cannot be reached. */
export async function engineVersion(): Promise<string | undefined> {
  const result = await quiet`docker version --format ${'{{.Server.Version}}'}`;
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

/** IDs of the running containers of one compose service (with `all`, stopped ones too). */
export async function serviceContainers(project: string, service: string, all = false): Promise<string[]> {
  const result = await $({
    quiet: true,
  })`docker ps ${all ? ['-a'] : []} -q --no-trunc --filter ${`label=com.docker.compose.project=${project}`} --filter ${`label=com.docker.compose.service=${service}`}`;
  return result.stdout.split('\n').filter(Boolean).sort();
}

export interface ContainerState {
  id: string;
  image: string;
  status: string;
  /** healthy | unhealthy | starting | none */
  health: string;
  /** Exit code of the last run (meaningful once exited). */
  exitCode?: number;
}

export async function inspectContainers(ids: string[]): Promise<ContainerState[]> {
  if (ids.length === 0) return [];
  const format = '{{.Id}} {{.Config.Image}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}';
  const result = await $({ quiet: true })`docker inspect --format ${format} ${ids}`;
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', image = '', status = '', health = '', exitCode = ''] = line.split(' ');
      return { id, image, status, health, ...(exitCode ? { exitCode: Number(exitCode) } : {}) };
    });
}

/**
 * Waits until every container is healthy (or running, for one without a
 * healthcheck). Fails fast on unhealthy or exited containers.
 */
export async function waitHealthy(ids: string[], timeoutSeconds: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const states = await inspectContainers(ids);
    const bad = states.find((s) => s.health === 'unhealthy' || s.status === 'exited' || s.status === 'dead');
    if (bad)
      throw new OperationError(
        `${what}: container ${bad.id.slice(0, 12)} is ${bad.health === 'unhealthy' ? 'unhealthy' : bad.status}.`,
        'see its log with docker logs',
      );
    if (states.length === ids.length && states.every((s) => s.health === 'healthy' || (s.health === 'none' && s.status === 'running'))) return;
    if (Date.now() > deadline) {
      const pending = states.filter((s) => s.health !== 'healthy').map((s) => `${s.id.slice(0, 12)} ${s.health}`);
      throw new OperationError(`${what}: not healthy after ${timeoutSeconds}s (${pending.join(', ')}).`, 'raise BACKEND_HEALTH_TIMEOUT or see docker logs');
    }
    await sleep(1000);
  }
}

/**
 * Why a datastore cannot serve, in one sentence, or undefined when it can. A
 * failed deploy names this cause: new replicas that wait for a dead database
 * are not a bad release, and the old ones cannot serve either until it is back.
 */
export function datastoreProblem(service: string, states: ContainerState[]): string | undefined {
  if (states.length === 0) return `${service} has no container.`;
  if (states.some((s) => s.status === 'running' && (s.health === 'healthy' || s.health === 'none'))) return undefined;
  const state = states[0] as ContainerState;
  if (state.status === 'running') return `${service} is running but ${state.health}.`;
  if (state.status === 'restarting')
    return `${service} is restarting after exiting with code ${state.exitCode ?? '?'} (Docker's restart policy brings it back).`;
  // Docker does not restart a container stopped by `docker stop`/`docker kill`: nothing will bring it back by itself.
  return `${service} is ${state.status} (exit code ${state.exitCode ?? '?'}) and nothing restarts it; start it with \`docker start ${state.id.slice(0, 12)}\` (or run the deploy again).`;
}
