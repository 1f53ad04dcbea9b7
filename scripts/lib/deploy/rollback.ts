/** Rollback: what a failure leads to (the plan's onFailure), and `--rollback` on demand. */
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readCompose } from '../compose/model.js';
import { inspectContainers, serviceContainers } from '../containers.js';
import { BadInputError, errorMessage, OperationError } from '../errors.js';
import { log } from '../log.js';
import { releasePath } from '../paths.js';
import { gitCommit, repoRoot } from '../render/bundle.js';
import { type AuditEntry, appendAudit } from './audit.js';
import { compose } from './commands.js';
import { type DeployContext, forHost } from './context.js';
import { hasRole, onEngine } from './hosts.js';
import { currentUser, takeDeployLock } from './lock.js';
import type { PlanStep } from './plan.js';
import { reloadNginx, rollingUpdate } from './rollout.js';
import { smoke } from './smoke.js';
import { hostRelease, stageRelease } from './stage.js';
import { type DeployState, type ReleaseRef, readState, STATE_FILE, writeState } from './state.js';
import type { DeployStore } from './store.js';

/** Rolls one app host's backend, workers and beat back to a release, with the same rolling procedure. */
export async function rollBackTo(ctx: DeployContext, target: ReleaseRef): Promise<void> {
  const dir = await hostRelease(ctx, target.release);
  if (!dir)
    throw new OperationError(
      `the release ${target.release} holds no bundle of host ${ctx.target.host.name} (${releasePath(ctx.paths.deploy, target.release)}); cannot roll it back.`,
    );
  log.info(`rolling host ${ctx.target.host.name} back to ${target.tag} (release ${target.release})`);
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

/** Puts a release's files back into one host's stack folder; no container changes. */
async function restoreFiles(ctx: DeployContext, previous: ReleaseRef): Promise<void> {
  const dir = await hostRelease(ctx, previous.release).catch(() => undefined);
  if (!dir) return;
  log.info(`restoring the files of release ${previous.release} in ${ctx.target.currentDir} (host ${ctx.target.host.name})`);
  await stageRelease(ctx, dir);
}

/** Back to `previous` on every host, one engine at a time: app hosts rolled back, db hosts' files restored. */
async function rollBackHosts(ctx: DeployContext, previous: ReleaseRef, afterRollBack?: (hostCtx: DeployContext) => Promise<void>): Promise<void> {
  for (const target of ctx.plan.hosts) {
    const hostCtx = forHost(ctx, target);
    await onEngine(target, async () => {
      if (!hasRole(target, 'app')) return restoreFiles(hostCtx, previous);
      await rollBackTo(hostCtx, previous);
      await afterRollBack?.(hostCtx);
    });
  }
}

/** What a failure at `reached` leads to (the plan's onFailure), carried out on every host. */
export async function recover(ctx: DeployContext, reached: PlanStep | undefined, error: unknown): Promise<AuditEntry['result']> {
  if (ctx.dryRun || !reached) return 'failed';
  if (reached.onFailure !== 'abort') log.warn(`step ${reached.index} (${reached.id}) failed: ${errorMessage(error)}; recovering (${reached.onFailure}).`);
  const policy = reached.onFailure;
  if (policy === 'abort') {
    rmSync(ctx.plan.releaseDir, { recursive: true, force: true });
    return 'failed';
  }
  const previous = ctx.plan.previous;
  if (policy === 'restore') {
    if (!previous) return 'failed';
    for (const target of ctx.plan.hosts)
      await onEngine(target, () => restoreFiles(forHost(ctx, target), previous)).catch((e) =>
        log.error(`restore on host ${target.host.name} failed: ${errorMessage(e)}`),
      );
    return 'failed';
  }
  if (policy === 'rollback') {
    if (!previous) {
      log.warn('no previous release is recorded, so there is nothing to roll back to.');
      return 'failed';
    }
    try {
      await rollBackHosts(ctx, previous);
      return 'rolled-back';
    } catch (rollbackError) {
      log.error(`rollback to ${previous.tag} failed too: ${errorMessage(rollbackError)}`);
      return 'failed';
    }
  }
  return 'failed';
}

/** The release `--rollback` goes back to (state.json on the engine's host); bad input when none is recorded. */
export function rollbackTarget(store: DeployStore): ReleaseRef {
  const previous = readState(store).previous;
  if (!previous) throw new BadInputError(`no previous release is recorded in ${store.where}/${STATE_FILE}; nothing to roll back to.`);
  return previous;
}

/** `--rollback`: back to the previous release on demand, same rolling procedure, on every app host in turn. */
export async function executeRollback(ctx: DeployContext): Promise<void> {
  const started = Date.now();
  // Nothing to roll back to is bad input: refused before the lock, and no audit line records an attempt that never was.
  const planned = rollbackTarget(ctx.store);
  const lock = takeDeployLock(ctx.store, { purpose: 'rollback', version: planned.tag, env: ctx.plan.env.name });
  let result: AuditEntry['result'] = 'failed';
  let state: DeployState = {};
  try {
    // Read under the lock: another operator may have deployed since the plan was made.
    state = readState(ctx.store);
    const target = rollbackTarget(ctx.store);
    await rollBackHosts(ctx, target, smoke);
    writeState(ctx.store, { current: target, ...(state.current ? { previous: state.current } : {}) });
    result = 'success';
    log.info(`rolled back to ${target.tag}`);
  } finally {
    appendAudit(ctx.store, {
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
