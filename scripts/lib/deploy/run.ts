import { chownSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { $ } from 'zx';
import { formatReport, runValidators } from '../check/runner.js';
import { addCleanup } from '../cleanup.js';
import { readCompose, secretOwners } from '../compose/model.js';
import { SCHEMA, type VarName } from '../env/schema.js';
import { BadInputError, errorMessage, OperationError } from '../errors.js';
import { log, registeredSecrets } from '../log.js';
import type { StatePaths } from '../paths.js';
import { gitCommit, listBundle, planBundle, repoRoot, writeBundle } from '../render/bundle.js';
import { pgbackrestImages } from '../render/pgbackrest-layout.js';
import { type AuditEntry, appendAudit } from './audit.js';
import { certificateStatus, WARN_DAYS } from './certs.js';
import { engineVersion, inspectContainers, serviceContainers, waitHealthy } from './docker.js';
import { type EngineHost, hostRun } from './host.js';
import { acquireLock, currentUser, type HeldLock } from './lock.js';
import {
  DATASTORES,
  type DeployPlan,
  durationSeconds,
  formatCommand,
  MONITORING_SERVICES,
  migrationArgv,
  type PlanInput,
  type PlanStep,
  scriptArgv,
} from './plan.js';
import { createMountpoints, nestedMountpoints, pruneReleases, releasePath, storeRelease, syncRelease } from './releases.js';
import { promote, type ReleaseRef, readState, writeState } from './state.js';

export interface DeployContext {
  plan: DeployPlan;
  input: PlanInput;
  paths: StatePaths;
  host: EngineHost;
  dryRun: boolean;
}

/** Runs a compose subcommand of the live stack, showing its output (redacted). */
async function compose(ctx: DeployContext, args: string[], composeArgs = ctx.plan.compose): Promise<void> {
  const [command, ...rest] = [...composeArgs, ...args];
  log.debug(formatCommand([...composeArgs, ...args]));
  const result = await $({ quiet: true, nothrow: true })`${command} ${rest}`;
  log.passthrough(result.stderr);
  if (result.exitCode !== 0) {
    const detail = result.stderr.trim().split('\n').slice(-3).join(' ');
    throw new OperationError(`${formatCommand([...composeArgs, ...args])} failed (exit ${result.exitCode}): ${detail}`);
  }
}

/** Runs one of the repo's scripts with the same env, secrets passed through the environment only. */
async function runScript(ctx: DeployContext, script: string, extra: string[] = []): Promise<void> {
  const argv = scriptArgv(script, ctx.input, extra);
  if (!existsSync(join(repoRoot(), 'scripts', script))) throw new OperationError(`scripts/${script} is missing from this checkout.`);
  log.info(`  $ ${formatCommand(argv)}`);
  // Secret overrides travel in the child's environment (never on its command line); so does the
  // project name, which compose commands without -p (backup-db.ts --compose) need to find the stack.
  const secretOverrides = Object.fromEntries(Object.entries(ctx.input.overrides).filter(([name]) => SCHEMA[name as VarName]?.secret));
  const tsx = join(repoRoot(), 'node_modules', '.bin', 'tsx');
  const result = await $({
    quiet: true,
    nothrow: true,
    cwd: process.cwd(),
    env: { ...process.env, ...secretOverrides, COMPOSE_PROJECT_NAME: ctx.plan.env.values.COMPOSE_PROJECT_NAME },
  })`${tsx} ${[join(repoRoot(), 'scripts', script), ...argv.slice(3)]}`;
  log.passthrough(result.stderr);
  if (result.stdout.trim()) log.passthrough(result.stdout);
  if (result.exitCode !== 0) throw new OperationError(`scripts/${script} failed (exit ${result.exitCode}).`);
}

// ---- steps 1-5: also in a dry run ----

/**
 * Renders into dist/<env> (what backup-db.ts --compose and the docs use) and
 * keeps a copy as releases/<id>; in a dry run into a temp folder only.
 */
export function render(ctx: DeployContext, scratch: string): string {
  const bundle = planBundle(ctx.plan.env);
  if (ctx.dryRun) return writeBundle(bundle, scratch);
  writeBundle(bundle, resolve('dist'));
  return storeRelease(resolve('dist', ctx.plan.env.name), ctx.paths.deploy, ctx.plan.releaseId);
}

export async function check(ctx: DeployContext, bundleDir: string): Promise<void> {
  const report = await runValidators({ bundleDir, env: ctx.plan.env, files: listBundle(bundleDir), secretValues: registeredSecrets() });
  if (report.errors > 0 || report.warnings > 0) log.info(formatReport(report));
  if (report.errors > 0)
    throw new BadInputError(`the rendered bundle fails check with ${report.errors} errors (listed above); nothing was started or stopped.`);
}

/** pgBackRest's mutual-TLS certificates (STATE_DIR/pgbackrest/tls): issued by the local CA when missing or expiring, else kept. */
async function ensurePgbackrestCertificates(ctx: DeployContext): Promise<void> {
  if (ctx.dryRun) return;
  if (!existsSync(join(ctx.paths.ca, 'ca.pem'))) await runScript(ctx, 'generate-certs.ts', ['--mode', 'ca']);
  await runScript(ctx, 'generate-certs.ts', ['--profile', 'pgbackrest']);
}

export async function ensureCertificates(ctx: DeployContext): Promise<void> {
  await ensureNginxCertificate(ctx);
  await ensurePgbackrestCertificates(ctx);
}

async function ensureNginxCertificate(ctx: DeployContext): Promise<void> {
  const status = certificateStatus(ctx.paths);
  const describe =
    status.state === 'ok' || status.state === 'expiring'
      ? `${status.subject}, ${status.daysLeft} days left`
      : status.state === 'unreadable'
        ? status.reason
        : 'missing';
  if (status.state === 'ok') {
    log.info(`  certificate ${join(ctx.paths.certs, 'fullchain.pem')}: ${describe}`);
    if (!ctx.dryRun) await runScript(ctx, 'check-certs.ts', ['--warn-days', String(WARN_DAYS)]);
    return;
  }
  const renewable = status.state === 'missing' || (status.state === 'expiring' && status.localCa);
  if (!renewable) {
    throw new BadInputError(
      `the certificate in ${ctx.paths.certs} is ${describe}; it is not from the local CA, so the deploy cannot renew it.`,
      'renew it with certbot (docs/edge.md) or remove it to fall back to the local CA',
    );
  }
  log.warn(
    `certificate ${describe}: ${ctx.dryRun ? 'the deploy would generate' : 'generating'} one signed by the local CA (clients must trust ${join(ctx.paths.certs, 'ca.pem')}; use certbot for a public one).`,
  );
  if (ctx.dryRun) return;
  await runScript(ctx, 'generate-certs.ts', ['--mode', 'ca', ...(status.state === 'expiring' ? ['--force'] : [])]);
  await runScript(ctx, 'check-certs.ts', ['--warn-days', String(WARN_DAYS)]);
}

// ---- steps 6-13 ----

async function backup(ctx: DeployContext): Promise<void> {
  const running = await serviceContainers(ctx.plan.env.values.COMPOSE_PROJECT_NAME, 'postgres');
  if (running.length === 0) {
    log.info('  PostgreSQL is not running yet (first deploy): nothing to back up.');
    return;
  }
  await runScript(ctx, 'backup-db.ts', ['--compose']);
}

/** Pulls images; images that exist only locally (built or imported on this engine) are accepted with a warning. */
async function pullImages(ctx: DeployContext): Promise<void> {
  const releaseCompose = [...ctx.plan.compose.slice(0, -1), join(ctx.plan.releaseDir, 'docker-compose.yml')];
  // The postgres image (pinned PostgreSQL + Debian's pgbackrest) is built here, once per version pair.
  const postgresImage = pgbackrestImages(ctx.plan.env.values).db;
  if ((await $({ quiet: true, nothrow: true })`docker image inspect ${postgresImage}`).exitCode !== 0) {
    log.info(`  building ${postgresImage}`);
    const [bcommand, ...brest] = [...releaseCompose, 'build', 'postgres'];
    const built = await $({ quiet: true, nothrow: true })`${bcommand} ${brest}`;
    if (built.exitCode !== 0) throw new OperationError(`building ${postgresImage} failed: ${built.stderr.trim().split('\n').slice(-3).join(' ')}`);
  }
  const [command, ...rest] = [...releaseCompose, 'pull', '--quiet'];
  const pulled = await $({ quiet: true, nothrow: true })`${command} ${rest}`;
  if (pulled.exitCode === 0) return;
  const model = readCompose(join(ctx.plan.releaseDir, 'docker-compose.yml'));
  const images = [...new Set(model.services.filter((s) => !s.profiles?.length).map((s) => s.image ?? ''))].filter(Boolean);
  const missing: string[] = [];
  for (const image of images) {
    if ((await $({ quiet: true, nothrow: true })`docker image inspect ${image}`).exitCode !== 0) missing.push(image);
  }
  if (missing.length > 0)
    throw new OperationError(
      `images cannot be pulled and are not on the engine: ${missing.join(', ')}.`,
      'check the *_IMAGE and BACKEND_TAG values and the registry login',
    );
  log.warn('pull failed, but every image is already on the engine: using those.');
}

/** Makes `current` the given release: copy (remote), sync, mountpoints, state folders, secret owners. */
export async function stageRelease(ctx: DeployContext, releaseDir: string): Promise<void> {
  const { paths, host } = ctx;
  const model = readCompose(join(releaseDir, 'docker-compose.yml'));
  const synced = syncRelease(releaseDir, ctx.plan.currentDir);
  createMountpoints(ctx.plan.currentDir, nestedMountpoints(model));
  log.info(`  ${ctx.plan.currentDir}: ${synced.written.length} files written, ${synced.removed.length} removed`);
  for (const dir of [paths.certs, paths.acme, paths.textfile, paths.backups, join(paths.root, 'letsencrypt')]) mkdirSync(dir, { recursive: true });
  if (host.kind === 'ssh') await copyToEngineHost(ctx, [ctx.plan.currentDir, paths.certs, paths.acme]);
  const chowns = secretOwners(model).owners.map((o) => ({ path: join(ctx.plan.currentDir, o.file), uid: o.uid }));
  const isRoot = process.getuid?.() === 0;
  if (isRoot && host.kind === 'local') {
    for (const { path, uid } of chowns) chownSync(path, uid, -1);
    return;
  }
  // Not root, or a remote host: chown inside a throwaway container (root there, no network).
  const byUid = new Map<number, string[]>();
  for (const { path, uid } of chowns) {
    if (uid === process.getuid?.() && host.kind === 'local') continue;
    byUid.set(uid, [...(byUid.get(uid) ?? []), path]);
  }
  for (const [uid, files] of byUid) {
    const mounts = [...new Set(files.map((f) => resolve(f, '..')))].flatMap((dir, i) => ['-v', `${dir}:/m${i}`]);
    const dirs = [...new Set(files.map((f) => resolve(f, '..')))];
    const targets = files.map((f) => `/m${dirs.indexOf(resolve(f, '..'))}/${f.split('/').pop()}`);
    const argv = [
      'docker',
      'run',
      '--rm',
      '--network',
      'none',
      '--user',
      '0',
      '--entrypoint',
      'chown',
      ...mounts,
      ctx.plan.env.values.POSTGRES_IMAGE,
      String(uid),
      ...targets,
    ];
    const result = await $({ quiet: true, nothrow: true })`${argv[0]} ${argv.slice(1)}`;
    if (result.exitCode !== 0)
      throw new OperationError(`cannot chown secret files to uid ${uid}: ${result.stderr.trim().split('\n').pop()}`, 'run the deploy as root');
  }
}

async function copyToEngineHost(ctx: DeployContext, dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    await hostRun(ctx.host, ['mkdir', '-p', dir]);
    const tar = await $({ quiet: true })`tar -C ${dir} -cf - .`;
    await hostRun(ctx.host, ['tar', '-C', dir, '-xf', '-'], { input: tar.stdout });
  }
}

async function datastores(ctx: DeployContext): Promise<void> {
  await compose(ctx, ['up', '-d', '--no-deps', ...DATASTORES]);
  const project = ctx.plan.env.values.COMPOSE_PROJECT_NAME;
  const ids = (await Promise.all(DATASTORES.map((s) => serviceContainers(project, s)))).flat();
  await waitHealthy(ids, ctx.plan.env.values.BACKEND_HEALTH_TIMEOUT, 'postgres and redis');
}

async function migrate(ctx: DeployContext): Promise<void> {
  await compose(ctx, ['run', '--rm', '--no-deps', '-T', 'backend', ...migrationArgv(ctx.plan.env)]);
}

async function reloadNginx(ctx: DeployContext): Promise<void> {
  await compose(ctx, ['kill', '-s', 'SIGHUP', 'nginx']);
  // Give the new workers a moment to start before old replicas go away.
  await sleep(1000);
}

/**
 * Zero-downtime replacement behind plain nginx: start the new containers
 * beside the old, wait for Docker health, reload nginx (it re-resolves the
 * service name), stop the old ones gracefully, reload again. An unhealthy new
 * container is removed and the old ones keep serving.
 */
export async function rollingUpdate(ctx: DeployContext, service: 'backend' | 'worker', replicas: number): Promise<void> {
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
    await waitHealthy(fresh, ctx.plan.env.values.BACKEND_HEALTH_TIMEOUT, `new ${service} containers`);
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

async function monitoring(ctx: DeployContext): Promise<void> {
  await compose(ctx, ['up', '-d', '--no-deps', ...MONITORING_SERVICES]);
  const project = ctx.plan.env.values.COMPOSE_PROJECT_NAME;
  const ids = (await Promise.all(['prometheus', 'alertmanager'].map((s) => serviceContainers(project, s)))).flat();
  await waitHealthy(ids, ctx.plan.env.values.BACKEND_HEALTH_TIMEOUT, 'prometheus and alertmanager');
  if (ctx.host.kind === 'local' && existsSync(join(repoRoot(), 'scripts', 'reload-prometheus.ts'))) {
    await runScript(ctx, 'reload-prometheus.ts', ['--url', 'http://127.0.0.1:9090']);
  } else {
    await hostRun(ctx.host, ['curl', '-fsS', '-X', 'POST', 'http://127.0.0.1:9090/-/reload']);
  }
  await hostRun(ctx.host, ['curl', '-fsS', '-X', 'POST', 'http://127.0.0.1:9093/-/reload']);
}

async function retry(what: string, seconds: number, probe: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  for (;;) {
    const problem = await probe();
    if (problem === undefined) return;
    last = problem;
    if (Date.now() > deadline) throw new OperationError(`smoke test: ${what}: ${last}`);
    await sleep(2000);
  }
}

async function smoke(ctx: DeployContext): Promise<void> {
  const { DOMAIN, NGINX_HTTPS_PORT } = ctx.plan.env.values;
  const url = `https://${DOMAIN}:${NGINX_HTTPS_PORT}/health`;
  await retry(`${url} through nginx`, 30, async () => {
    const r = await hostRun(
      ctx.host,
      [
        'curl',
        '-fsS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--cacert',
        join(ctx.paths.certs, 'ca.pem'),
        '--resolve',
        `${DOMAIN}:${NGINX_HTTPS_PORT}:127.0.0.1`,
        url,
      ],
      { nothrow: true },
    );
    return r.exitCode === 0 ? undefined : `curl exit ${r.exitCode} ${r.stderr.trim()}`;
  });
  log.info(`  ${url}: 200`);
  await retry('Prometheus targets', 90, async () => {
    const r = await hostRun(ctx.host, ['curl', '-fsS', 'http://127.0.0.1:9090/api/v1/targets?state=active'], { nothrow: true });
    if (r.exitCode !== 0) return `Prometheus API unreachable (curl exit ${r.exitCode})`;
    const targets = (JSON.parse(r.stdout) as { data: { activeTargets: { health: string; scrapeUrl: string; lastError: string }[] } }).data.activeTargets;
    const down = targets.filter((t) => t.health !== 'up');
    return down.length === 0
      ? undefined
      : `${down.length} of ${targets.length} down: ${down.map((t) => `${t.scrapeUrl} (${t.lastError || t.health})`).join(', ')}`;
  });
  log.info('  Prometheus: every target up');
}

// ---- rollback ----

/** Rolls backend, workers and beat back to a release, with the same rolling procedure. */
export async function rollBackTo(ctx: DeployContext, target: ReleaseRef): Promise<void> {
  const dir = releasePath(ctx.paths.deploy, target.release);
  if (!existsSync(dir)) throw new OperationError(`the previous release ${dir} is gone; cannot roll back.`);
  log.info(`rolling back to ${target.tag} (release ${target.release})`);
  await stageRelease(ctx, dir);
  const image = readCompose(join(dir, 'docker-compose.yml')).services.find((s) => s.name === 'backend')?.image ?? '';
  const project = ctx.plan.env.values.COMPOSE_PROJECT_NAME;
  for (const [service, replicas] of [
    ['backend', ctx.plan.env.values.BACKEND_REPLICAS],
    ['worker', ctx.plan.env.values.WORKER_REPLICAS],
  ] as const) {
    const states = await inspectContainers(await serviceContainers(project, service));
    if (states.length > 0 && states.every((s) => s.image === image)) {
      log.info(`  ${service}: already on ${image}`);
      continue;
    }
    await rollingUpdate(ctx, service, replicas);
  }
  await compose(ctx, ['up', '-d', '--no-deps', 'beat']);
  await reloadNginx(ctx);
}

// ---- the whole deploy ----

export interface StepHooks {
  /** Called before each step (progress output). */
  onStep?(step: PlanStep): void;
}

const APPLY_STEPS: Partial<Record<PlanStep['id'], (ctx: DeployContext) => Promise<void>>> = {
  backup,
  datastores,
  migrate,
  backend: (ctx) => rollingUpdate(ctx, 'backend', ctx.plan.env.values.BACKEND_REPLICAS),
  workers: async (ctx) => {
    await rollingUpdate(ctx, 'worker', ctx.plan.env.values.WORKER_REPLICAS);
    await compose(ctx, ['up', '-d', '--no-deps', 'beat']);
  },
  monitoring,
  smoke,
};

/** Runs the plan. Throws after recording the outcome; the caller maps the error to the exit code. */
export async function executeDeploy(ctx: DeployContext, scratch: string): Promise<void> {
  const { plan, paths } = ctx;
  const started = Date.now();
  const total = plan.steps.length;
  const step = (id: PlanStep['id']): PlanStep => plan.steps.find((s) => s.id === id) as PlanStep;
  const announce = (s: PlanStep): void => log.step(s.index, total, s.title);

  announce(step('env'));
  if (ctx.dryRun) {
    const version = await engineVersion();
    if (version) log.info(`  Docker engine ${version}`);
    else log.warn(`the Docker engine at ${process.env.DOCKER_HOST ?? 'the local socket'} cannot be reached (a real deploy would stop here).`);
  }

  announce(step('lock'));
  let lock: HeldLock | undefined;
  if (ctx.dryRun) {
    const { readLockOwner, isStale, describeOwner } = await import('./lock.js');
    const owner = readLockOwner(paths.deploy);
    if (owner && !isStale(owner)) log.warn(`a deploy holds the lock now: ${describeOwner(owner)}.`);
  } else {
    lock = acquireLock(paths.deploy, { version: plan.tag, env: plan.env.name });
  }

  let reached: PlanStep | undefined;
  let result: AuditEntry['result'] = 'failed';
  let failure: unknown;
  const auditEntry = (outcome: AuditEntry['result'], error?: string): AuditEntry => ({
    time: new Date().toISOString(),
    user: currentUser(),
    host: hostname(),
    env: plan.env.name,
    commit: gitCommit(repoRoot()),
    image: plan.env.values.BACKEND_IMAGE,
    tag: plan.tag,
    action: 'deploy',
    result: outcome,
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    release: plan.releaseId,
    ...(plan.previous ? { previousTag: plan.previous.tag } : {}),
    ...(error ? { error } : {}),
  });
  // Ctrl-C still leaves a line in the audit log (cleanups run newest first: before the lock's release).
  const stopAuditOnInterrupt = ctx.dryRun
    ? () => undefined
    : addCleanup(() => appendAudit(paths.deploy, auditEntry('interrupted', reached ? `interrupted at step ${reached.index} (${reached.id})` : 'interrupted')));
  try {
    // Probed under the lock, so a deploy that cannot reach the engine changes nothing and leaves no lock.
    if (!ctx.dryRun) {
      const version = await engineVersion();
      if (!version) {
        throw new BadInputError(
          `the Docker engine at ${process.env.DOCKER_HOST ?? 'the local socket'} cannot be reached; nothing was started or stopped.`,
          'start Docker or fix DOCKER_HOST',
        );
      }
      log.info(`  Docker engine ${version}`);
    }
    reached = step('render');
    announce(reached);
    const bundleDir = render(ctx, scratch);
    reached = step('check');
    announce(reached);
    await check(ctx, bundleDir);
    reached = step('certs');
    announce(reached);
    await ensureCertificates(ctx);
    if (ctx.dryRun) return;

    for (const s of plan.steps.filter((x) => x.index > step('certs').index && x.index < step('audit').index)) {
      reached = s;
      announce(s);
      if (s.skipped) {
        log.info(`  skipped: ${s.skipped}`);
        continue;
      }
      if (s.id === 'pull') {
        await pullImages(ctx);
        await stageRelease(ctx, plan.releaseDir);
        continue;
      }
      await APPLY_STEPS[s.id]?.(ctx);
    }
    reached = step('audit');
    announce(reached);
    const state = readState(paths.deploy);
    writeState(paths.deploy, promote(state, { release: plan.releaseId, tag: plan.tag, at: new Date().toISOString() }));
    const keep = [plan.releaseId, state.current?.release].filter((x): x is string => Boolean(x));
    pruneReleases(paths.deploy, keep);
    result = 'success';
  } catch (error) {
    failure = error;
    result = await recover(ctx, reached, error);
  } finally {
    stopAuditOnInterrupt();
    if (!ctx.dryRun && reached && reached.index >= step('render').index) {
      appendAudit(paths.deploy, auditEntry(result, failure ? `step ${reached.index} (${reached.id}): ${errorMessage(failure)}` : undefined));
    }
    if (!ctx.dryRun) log.step(step('unlock').index, total, step('unlock').title);
    lock?.release();
  }
  if (failure) {
    const where = reached ? `step ${reached.index} (${reached.title})` : 'start';
    const outcome = result === 'rolled-back' ? `; rolled back to ${plan.previous?.tag}` : '';
    if (failure instanceof BadInputError) throw failure;
    throw new OperationError(
      `deploy of ${plan.tag} failed at ${where}: ${errorMessage(failure)}${outcome}`,
      failure instanceof OperationError ? failure.hint : undefined,
    );
  }
  log.info(`deployed ${plan.image} (release ${plan.releaseId}) in ${Math.round((Date.now() - started) / 1000)}s`);
}

/** What a failure at `reached` leads to (the plan's onFailure), carried out. */
async function recover(ctx: DeployContext, reached: PlanStep | undefined, error: unknown): Promise<AuditEntry['result']> {
  if (ctx.dryRun || !reached) return 'failed';
  if (reached.onFailure !== 'abort') log.warn(`step ${reached.index} (${reached.id}) failed: ${errorMessage(error)}; recovering (${reached.onFailure}).`);
  const policy = reached.onFailure;
  if (policy === 'abort') {
    rmSync(ctx.plan.releaseDir, { recursive: true, force: true });
    return 'failed';
  }
  const previous = ctx.plan.previous;
  if (policy === 'restore') {
    if (previous && existsSync(releasePath(ctx.paths.deploy, previous.release))) {
      log.info(`restoring the files of release ${previous.release} in ${ctx.plan.currentDir}`);
      await stageRelease(ctx, releasePath(ctx.paths.deploy, previous.release)).catch((e) => log.error(`restore failed: ${errorMessage(e)}`));
    }
    return 'failed';
  }
  if (policy === 'rollback') {
    if (!previous) {
      log.warn('no previous release is recorded, so there is nothing to roll back to.');
      return 'failed';
    }
    try {
      await rollBackTo(ctx, previous);
      return 'rolled-back';
    } catch (rollbackError) {
      log.error(`rollback to ${previous.tag} failed too: ${errorMessage(rollbackError)}`);
      return 'failed';
    }
  }
  return 'failed';
}

/** `--rollback`: back to the previous release on demand, same rolling procedure. */
export async function executeRollback(ctx: DeployContext): Promise<void> {
  const started = Date.now();
  const lock = acquireLock(ctx.paths.deploy, { version: 'rollback', env: ctx.plan.env.name });
  let result: AuditEntry['result'] = 'failed';
  const state = readState(ctx.paths.deploy);
  try {
    if (!state.previous) throw new BadInputError(`no previous release is recorded in ${join(ctx.paths.deploy, 'state.json')}; nothing to roll back to.`);
    await rollBackTo(ctx, state.previous);
    await smoke(ctx);
    writeState(ctx.paths.deploy, { current: state.previous, ...(state.current ? { previous: state.current } : {}) });
    result = 'success';
    log.info(`rolled back to ${state.previous.tag}`);
  } finally {
    appendAudit(ctx.paths.deploy, {
      time: new Date().toISOString(),
      user: currentUser(),
      host: hostname(),
      env: ctx.plan.env.name,
      commit: gitCommit(repoRoot()),
      image: ctx.plan.env.values.BACKEND_IMAGE,
      tag: state.previous?.tag ?? '(none)',
      action: 'rollback',
      result,
      durationSeconds: Math.round((Date.now() - started) / 100) / 10,
      ...(state.current ? { previousTag: state.current.tag } : {}),
    });
    lock.release();
  }
}
