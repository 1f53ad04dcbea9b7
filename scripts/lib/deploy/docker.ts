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

/** IDs of the running containers of one compose service. */
export async function serviceContainers(project: string, service: string): Promise<string[]> {
  const result = await $({
    quiet: true,
  })`docker ps -q --no-trunc --filter ${`label=com.docker.compose.project=${project}`} --filter ${`label=com.docker.compose.service=${service}`}`;
  return result.stdout.split('\n').filter(Boolean).sort();
}

export interface ContainerState {
  id: string;
  image: string;
  status: string;
  /** healthy | unhealthy | starting | none */
  health: string;
}

export async function inspectContainers(ids: string[]): Promise<ContainerState[]> {
  if (ids.length === 0) return [];
  const format = '{{.Id}} {{.Config.Image}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}';
  const result = await $({ quiet: true })`docker inspect --format ${format} ${ids}`;
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', image = '', status = '', health = ''] = line.split(' ');
      return { id, image, status, health };
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
