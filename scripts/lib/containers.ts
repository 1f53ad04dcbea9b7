import { setTimeout as sleep } from 'node:timers/promises';
import { askEngine, engineName, failureOf } from './docker-engine.js';
import { OperationError } from './errors.js';

// Read-only questions to the Docker engine (DOCKER_HOST is honoured by the docker CLI), each bounded in time.

/** Server version, or undefined when the engine cannot be reached; throws when it accepts and never answers. */
export async function engineVersion(): Promise<string | undefined> {
  const result = await askEngine(['docker', 'version', '--format', '{{.Server.Version}}']);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/** A question the engine must answer: its output, or an error naming the engine. */
async function answerOf(argv: string[]): Promise<string> {
  const result = await askEngine(argv);
  if (result.code !== 0) throw new OperationError(`\`${argv.slice(0, 3).join(' ')}\` at the Docker engine ${engineName()} failed: ${failureOf(result)}.`);
  return result.stdout;
}

/**
 * IDs of every container of one compose service, in any state (`docker ps -a`):
 * a container that exited at once must be seen, not mistaken for "none yet".
 */
export async function serviceContainers(project: string, service: string): Promise<string[]> {
  const labels = ['--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`];
  return (await answerOf(['docker', 'ps', '-a', '-q', '--no-trunc', ...labels])).split('\n').filter(Boolean).sort();
}

export interface ContainerState {
  id: string;
  /** Container name without the leading slash. */
  name: string;
  image: string;
  /** created | running | restarting | exited | dead | paused | removing */
  status: string;
  exitCode: number;
  /** healthy | unhealthy | starting | none */
  health: string;
  /** Restarts by the restart policy since the container was created. */
  restartCount: number;
  /** When the current run started (0001-01-01T00:00:00Z before the first start). */
  startedAt: string;
}

interface InspectJson {
  Id: string;
  Name: string;
  RestartCount: number;
  Config: { Image: string };
  State: { Status: string; ExitCode: number; StartedAt: string; Health?: { Status: string } };
}

/**
 * States of the given containers; one that no longer exists is simply absent
 * from the result. Parsed from docker inspect's JSON: a Go template would fail
 * on a container without a healthcheck (newer engines omit State.Health).
 */
export async function inspectContainers(ids: string[]): Promise<ContainerState[]> {
  if (ids.length === 0) return [];
  const result = await askEngine(['docker', 'inspect', ...ids]);
  if (result.code !== 0 && !/no such (object|container)/i.test(result.stderr)) {
    throw new OperationError(`docker inspect at the Docker engine ${engineName()} failed: ${failureOf(result)}.`);
  }
  const found = JSON.parse(result.stdout.trim() || '[]') as InspectJson[];
  return found.map((c) => ({
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Config.Image,
    status: c.State.Status,
    exitCode: c.State.ExitCode,
    health: c.State.Health?.Status ?? 'none',
    restartCount: c.RestartCount,
    startedAt: c.State.StartedAt,
  }));
}

/** A container that will not become healthy by waiting: the reason, or undefined. */
export function hopeless(state: ContainerState): string | undefined {
  if (state.health === 'unhealthy') return 'unhealthy';
  if (state.status === 'exited' || state.status === 'dead') return `${state.status} (exit code ${state.exitCode})`;
  if (state.status === 'restarting') return `restarting (last exit code ${state.exitCode})`;
  return undefined;
}

/** Whether `now` is a new run of the container seen as `before` (restarted by its policy or by hand). */
function restartedSince(before: ContainerState, now: ContainerState): boolean {
  const hadStarted = !before.startedAt.startsWith('0001-');
  return now.restartCount > before.restartCount || (hadStarted && now.startedAt !== before.startedAt);
}

/**
 * How long a container without a healthcheck must stay running, in the same
 * run, before it counts as ready: one that exits a moment after starting (a
 * crash loop shows `running` between its restarts) must not pass.
 */
export const SETTLE_SECONDS = 5;

/** The containers to wait for, each with the compose service it belongs to (for messages). */
export interface Awaited {
  service: string;
  id: string;
}

export interface WaitOptions {
  /**
   * An unhealthy container may still turn healthy (its cause was outside it and has gone, like a
   * database back after an outage): keep waiting for it instead of failing at once.
   */
  unhealthyMayRecover?: boolean;
  /** What to do when the time runs out. */
  hint?: string;
}

/**
 * Waits until every container is healthy, or, without a healthcheck, has run
 * for SETTLE_SECONDS without a restart. An empty list is an error, never a
 * success. Fails at once on a container that is unhealthy (unless it may
 * recover), exited, dead, restarting, restarted while waiting or gone, naming it.
 */
export async function waitHealthy(containers: Awaited[], timeoutSeconds: number, what: string, options: WaitOptions = {}): Promise<void> {
  if (containers.length === 0) throw new OperationError(`${what}: there is no container to wait for.`, 'see docker ps -a and the compose labels');
  const label = (c: Awaited, state?: ContainerState): string => `${c.service} container ${state?.name ?? c.id.slice(0, 12)}`;
  const deadline = Date.now() + timeoutSeconds * 1000;
  const firstSeen = new Map<string, ContainerState>();
  /** When this process first saw each container running (a restart fails the wait, so the run never changes). */
  const runningSince = new Map<string, number>();
  const ready = (state: ContainerState | undefined): boolean => {
    if (state?.health === 'healthy') return true;
    const since = runningSince.get(state?.id ?? '');
    return state?.health === 'none' && since !== undefined && Date.now() - since >= SETTLE_SECONDS * 1000;
  };
  for (;;) {
    const states = await inspectContainers(containers.map((c) => c.id));
    const byId = new Map(states.map((s) => [s.id, s]));
    for (const container of containers) {
      const state = byId.get(container.id);
      const before = firstSeen.get(container.id);
      let reason = state ? hopeless(state) : 'gone (removed while waiting)';
      if (reason === 'unhealthy' && options.unhealthyMayRecover) reason = undefined;
      if (!reason && state && before && restartedSince(before, state))
        reason = `restarted while waiting (restart count ${before.restartCount} → ${state.restartCount})`;
      if (reason) throw new OperationError(`${what}: ${label(container, state)} is ${reason}.`, 'see its log with docker logs');
      if (!state) continue;
      if (!before) firstSeen.set(container.id, state);
      if (state.status === 'running' && !runningSince.has(state.id)) runningSince.set(state.id, Date.now());
    }
    if (containers.every((c) => ready(byId.get(c.id)))) return;
    if (Date.now() > deadline) {
      const pending = containers.filter((c) => !ready(byId.get(c.id)));
      const detail = pending.map((c) => `${label(c, byId.get(c.id))} ${byId.get(c.id)?.health} ${byId.get(c.id)?.status}`).join(', ');
      throw new OperationError(`${what}: not healthy after ${timeoutSeconds}s (${detail}).`, options.hint ?? 'raise BACKEND_HEALTH_TIMEOUT or see docker logs');
    }
    await sleep(1000);
  }
}

/** Each named service with the IDs of its containers, in any state. */
function containersByService(project: string, services: readonly string[]): Promise<{ service: string; ids: string[] }[]> {
  return Promise.all(services.map(async (service) => ({ service, ids: await serviceContainers(project, service) })));
}

/**
 * Waits for every named service of a compose project: each must have at least
 * one container (a missing one fails at once, naming the service), and all of
 * them must become healthy.
 */
export async function waitServicesHealthy(project: string, services: readonly string[], timeoutSeconds: number, what: string): Promise<void> {
  const found = await containersByService(project, services);
  const missing = found.filter((f) => f.ids.length === 0).map((f) => f.service);
  if (missing.length > 0)
    throw new OperationError(
      `${what}: no container of service ${missing.join(', ')} in compose project ${project}.`,
      'see docker ps -a; compose did not create it or its labels do not match',
    );
  await waitHealthy(
    found.flatMap((f) => f.ids.map((id) => ({ service: f.service, id }))),
    timeoutSeconds,
    what,
  );
}

/**
 * Waits until the running containers of the named services are healthy, an unhealthy one
 * included: after an outage of what they check (the database), they turn healthy at their next
 * check. Containers that do not run are left to `compose up`. Returns the services waited for.
 */
export async function waitRunningHealthy(project: string, services: readonly string[], timeoutSeconds: number, what: string, hint: string): Promise<string[]> {
  const found = await containersByService(project, services);
  const states = await inspectContainers(found.flatMap((f) => f.ids));
  const running = new Set(states.filter((s) => s.status === 'running').map((s) => s.id));
  const containers = found.flatMap((f) => f.ids.filter((id) => running.has(id)).map((id) => ({ service: f.service, id })));
  if (containers.length === 0) return [];
  await waitHealthy(containers, timeoutSeconds, what, { unhealthyMayRecover: true, hint });
  return [...new Set(containers.map((c) => c.service))];
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
  if (state.status === 'restarting') return `${service} is restarting after exiting with code ${state.exitCode} (Docker's restart policy brings it back).`;
  // Docker does not restart a container stopped by `docker stop`/`docker kill`: nothing will bring it back by itself.
  return `${service} is ${state.status} (exit code ${state.exitCode}) and nothing restarts it; start it with \`docker start ${state.id.slice(0, 12)}\` (or run the deploy again).`;
}
