import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { $ } from 'zx/core';
import { engineVersion, waitServicesHealthy } from '../containers.js';
import { engineHas, engineName } from '../docker-engine.js';
import { BadInputError, OperationError } from '../errors.js';
import { log } from '../log.js';
import { DIST_DIR } from '../paths.js';
import { planHostBundles, repoRoot, writeBundles } from '../render/bundle.js';
import type { DeployContext } from './context.js';
import { formatCommand } from './plan.js';
import { check, ensureCertificates, render } from './prepare.js';
import { stageRelease } from './stage.js';
// Every area's template derivers, registered with render.
import '../derivers.js';
/** The dev stack's URLs, printed at the end (all on loopback). */
export function devUrls(ctx: DeployContext): string[] {
  const v = ctx.plan.env.values;
  return [
    `API (nginx)   https://${v.DOMAIN}:${v.NGINX_HTTPS_PORT}/health   (CA: ${join(ctx.paths.certs, 'ca.pem')})`,
    'API (direct)  http://127.0.0.1:8000/docs   (debugpy: 127.0.0.1:5678)',
    `Grafana       http://127.0.0.1:3001   (user ${v.GRAFANA_ADMIN_USER}, password in dist/dev/secrets/grafana_admin_password)`,
    'Prometheus    http://127.0.0.1:9091',
    'Alertmanager  http://127.0.0.1:9093',
    'Mailhog       http://127.0.0.1:8025   (SMTP 127.0.0.1:1025)',
  ];
}

export function backendBuildArgv(ctx: DeployContext): string[] {
  const v = ctx.plan.env.values;
  return [
    'docker',
    'build',
    '-f',
    join(repoRoot(), 'compose', 'backend', 'Dockerfile.dev'),
    '-t',
    `${v.BACKEND_IMAGE}:${v.BACKEND_TAG}`,
    resolve(v.HEALTHMATE_SRC),
  ];
}

export function devPlanLines(ctx: DeployContext, build: boolean): string[] {
  const c = (...args: string[]): string => formatCommand([...ctx.target.compose, ...args]);
  return [
    `dev plan: ${ctx.plan.env.values.COMPOSE_PROJECT_NAME} from ${ctx.target.currentDir}`,
    '1. render dist/dev and check it with every validator',
    '2. certificates: generate-certs.ts --mode ca when missing',
    `3. backend image ${ctx.plan.image}: ${build ? formatCommand(backendBuildArgv(ctx)) : 'built from HEALTHMATE_SRC only when missing (or with --build)'}`,
    `4. sync the bundle into ${ctx.target.currentDir} and chown secret files`,
    `5. ${c('up', '-d', '--remove-orphans')}`,
    '6. wait until postgres, redis and backend report healthy, then print the URLs',
  ];
}

/** Refuses a build when HEALTHMATE_SRC holds no backend checkout (the dry run asks this too). */
export function checkBuildSource(ctx: DeployContext): void {
  const source = resolve(ctx.plan.env.values.HEALTHMATE_SRC);
  if (!existsSync(join(source, 'requirements.txt'))) {
    throw new BadInputError(
      `the image ${ctx.plan.image} must be built, and HEALTHMATE_SRC (${source}) holds no HealthMate checkout to build it from.`,
      'set HEALTHMATE_SRC to the backend source, or BACKEND_IMAGE/BACKEND_TAG to an existing image',
    );
  }
}

async function ensureBackendImage(ctx: DeployContext, build: boolean): Promise<void> {
  const image = ctx.plan.image;
  const present = await engineHas('image', image);
  if (present && !build) return;
  checkBuildSource(ctx);
  const [command, ...rest] = backendBuildArgv(ctx);
  log.info(`  $ ${formatCommand(backendBuildArgv(ctx))}`);
  const result = await $({ quiet: true, nothrow: true })`${command} ${rest}`;
  if (result.exitCode !== 0) throw new OperationError(`docker build of ${image} failed: ${result.stderr.trim().split('\n').slice(-3).join(' ')}`);
}

/** Renders dev, brings the whole dev stack up and waits for the core services. */
export async function deployDev(ctx: DeployContext, options: { build: boolean; scratch: string }): Promise<void> {
  log.step(1, 6, 'render and check');
  if (!ctx.dryRun && !(await engineVersion())) {
    throw new BadInputError(`the Docker engine at ${engineName()} cannot be reached; nothing was started.`, 'start Docker or fix DOCKER_HOST');
  }
  // Dev keeps no release history: the stack is staged straight from dist/dev (one host: the folder itself).
  const bundleDir = ctx.dryRun ? render(ctx, options.scratch) : writeBundles(planHostBundles(ctx.plan.env), resolve(DIST_DIR));
  await check(ctx, bundleDir);
  log.step(2, 6, 'certificates');
  await ensureCertificates(ctx);
  if (ctx.dryRun) return;
  log.step(3, 6, 'backend image');
  await ensureBackendImage(ctx, options.build);
  log.step(4, 6, 'stage the bundle');
  await stageRelease(ctx, bundleDir);
  log.step(5, 6, 'start the stack');
  const [command, ...rest] = [...ctx.target.compose, 'up', '-d', '--remove-orphans'];
  const up = await $({ quiet: true, nothrow: true })`${command} ${rest}`;
  log.passthrough(up.stderr);
  if (up.exitCode !== 0)
    throw new OperationError(`${formatCommand([...ctx.target.compose, 'up', '-d'])} failed: ${up.stderr.trim().split('\n').slice(-3).join(' ')}`);
  log.step(6, 6, 'wait for health');
  const project = ctx.plan.env.values.COMPOSE_PROJECT_NAME;
  await waitServicesHealthy(project, ['postgres', 'redis', 'backend'], ctx.plan.env.values.BACKEND_HEALTH_TIMEOUT, 'the dev stack');
}
