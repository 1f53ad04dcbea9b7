/** An app host's steps: HAProxy and Redis, migrations, the zero-downtime rolling update, monitoring. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { $ } from 'zx/core';
import { addCleanup } from '../cleanup.js';
import { serviceContainers, waitHealthy, waitServicesHealthy } from '../containers.js';
import { OperationError } from '../errors.js';
import { log } from '../log.js';
import { repoRoot } from '../render/bundle.js';
import { durationSeconds, MONITORING_SERVICES, migrationArgv, NGINX_RELOAD } from './argv.js';
import { compose, runScript } from './commands.js';
import type { DeployContext } from './context.js';
import { hostRun } from './host.js';
import { APP_DATASTORES } from './plan-hosts.js';

/** What a rolling update reads of the deploy: the project, the health and stop timings, the host's compose command. */
export interface RolloutContext {
  plan: { env: { values: Pick<DeployContext['plan']['env']['values'], 'COMPOSE_PROJECT_NAME' | 'BACKEND_HEALTH_TIMEOUT' | 'BACKEND_STOP_GRACE'> } };
  target: Pick<DeployContext['target'], 'compose'>;
}

/** HAProxy (healthy once a leader takes writes through it) and Redis, before the migrations and the backend. */
export async function datastores(ctx: DeployContext): Promise<void> {
  await compose(ctx, ['up', '-d', '--no-deps', ...APP_DATASTORES]);
  const project = ctx.plan.env.values.COMPOSE_PROJECT_NAME;
  await waitServicesHealthy(
    project,
    APP_DATASTORES,
    ctx.plan.env.values.BACKEND_HEALTH_TIMEOUT,
    `${APP_DATASTORES.join(', ')} on host ${ctx.target.host.name}`,
  );
}

export async function migrate(ctx: DeployContext): Promise<void> {
  await compose(ctx, ['run', '--rm', '--no-deps', '-T', 'backend', ...migrationArgv(ctx.plan.env)]);
}

export async function reloadNginx(ctx: Pick<RolloutContext, 'target'>): Promise<void> {
  // Right after `up -d nginx` (first deploy) the master may not have written its pid file yet.
  for (let attempt = 1; ; attempt++) {
    try {
      await compose(ctx, NGINX_RELOAD);
      break;
    } catch (error) {
      if (attempt >= 10) throw error;
      await sleep(500);
    }
  }
  // Give the new workers a moment to start before old replicas go away.
  await sleep(1000);
}

/**
 * Zero-downtime replacement behind plain nginx: start the new containers
 * beside the old, wait for Docker health, reload nginx (it re-resolves the
 * service name), stop the old ones gracefully, reload again. An unhealthy new
 * container is removed and the old ones keep serving.
 */
export async function rollingUpdate(ctx: RolloutContext, service: 'backend' | 'worker', replicas: number): Promise<void> {
  const project = ctx.plan.env.values.COMPOSE_PROJECT_NAME;
  const old = await serviceContainers(project, service);
  log.info(`  ${service}: ${old.length} running, starting ${replicas} new`);
  await compose(ctx, ['up', '-d', '--no-deps', '--no-recreate', '--scale', `${service}=${old.length + replicas}`, service]);
  const fresh = (await serviceContainers(project, service)).filter((id) => !old.includes(id));
  // Interrupted before the switch completes: the new containers go, the old ones keep serving.
  const removeFreshOnInterrupt = addCleanup(async () => {
    if (fresh.length > 0) await $({ quiet: true, nothrow: true })`docker rm -f ${fresh}`;
  });
  try {
    if (fresh.length !== replicas) throw new OperationError(`${service}: expected ${replicas} new containers, found ${fresh.length}.`);
    await waitHealthy(
      fresh.map((id) => ({ service, id })),
      ctx.plan.env.values.BACKEND_HEALTH_TIMEOUT,
      `new ${service} containers`,
    );
  } catch (error) {
    if (fresh.length > 0) await $({ quiet: true, nothrow: true })`docker rm -f ${fresh}`;
    removeFreshOnInterrupt();
    throw error;
  }
  const withNginx = service === 'backend';
  if (withNginx) {
    await compose(ctx, ['up', '-d', '--no-deps', 'nginx']);
    await reloadNginx(ctx);
  }
  // Switched: from here on an interruption leaves new (and maybe old) containers serving.
  removeFreshOnInterrupt();
  if (old.length > 0) {
    // The new containers serve already: a container that vanished meanwhile is no reason to roll back.
    const stopped = await $({ quiet: true, nothrow: true })`docker stop --time ${String(durationSeconds(ctx.plan.env.values.BACKEND_STOP_GRACE))} ${old}`;
    const removed = await $({ quiet: true, nothrow: true })`docker rm ${old}`;
    if (stopped.exitCode !== 0 || removed.exitCode !== 0) log.warn(`removing the old ${service} containers: ${(stopped.stderr + removed.stderr).trim()}`);
    if (withNginx) await reloadNginx(ctx);
  }
}

export async function monitoring(ctx: DeployContext): Promise<void> {
  await compose(ctx, ['up', '-d', '--no-deps', ...MONITORING_SERVICES]);
  const project = ctx.plan.env.values.COMPOSE_PROJECT_NAME;
  await waitServicesHealthy(project, ['prometheus', 'alertmanager'], ctx.plan.env.values.BACKEND_HEALTH_TIMEOUT, 'prometheus and alertmanager');
  if (ctx.host.kind === 'local' && existsSync(join(repoRoot(), 'scripts', 'reload-prometheus.ts'))) {
    await runScript(ctx, 'reload-prometheus.ts', ['--url', 'http://127.0.0.1:9090']);
  } else {
    await hostRun(ctx.host, ['curl', '-fsS', '-X', 'POST', 'http://127.0.0.1:9090/-/reload']);
  }
  await hostRun(ctx.host, ['curl', '-fsS', '-X', 'POST', 'http://127.0.0.1:9093/-/reload']);
}
