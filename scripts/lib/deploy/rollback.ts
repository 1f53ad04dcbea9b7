/** Rollback: what a failure leads to (the plan's onFailure), and `--rollback` on demand. */
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readCompose } from '../compose/model.js';
import { BadInputError, errorMessage, OperationError } from '../errors.js';
import { log } from '../log.js';
import { gitCommit, repoRoot } from '../render/bundle.js';
import { type AuditEntry, appendAudit } from './audit.js';
import { compose } from './commands.js';
import type { DeployContext } from './context.js';
import { inspectContainers, serviceContainers } from './docker.js';
import { currentUser, takeDeployLock } from './lock.js';
import type { PlanStep } from './plan.js';
import { releasePath } from './releases.js';
import { reloadNginx, rollingUpdate } from './rollout.js';
import { smoke } from './smoke.js';
import { localRelease, stageRelease } from './stage.js';
import { type DeployState, type ReleaseRef, readState, STATE_FILE, writeState } from './state.js';
import type { DeployStore } from './store.js';

/** Rolls backend, workers and beat back to a release, with the same rolling procedure. */
export async function rollBackTo(ctx: DeployContext, target: ReleaseRef): Promise<void> {
  const dir = await localRelease(ctx, target.release);
  if (!dir) throw new OperationError(`the release ${target.release} is gone from ${releasePath(ctx.paths.deploy, target.release)}; cannot roll back.`);
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

/** What a failure at `reached` leads to (the plan's onFailure), carried out. */
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
    const previousDir = previous ? await localRelease(ctx, previous.release).catch(() => undefined) : undefined;
    if (previous && previousDir) {
      log.info(`restoring the files of release ${previous.release} in ${ctx.plan.currentDir}`);
      await stageRelease(ctx, previousDir).catch((e) => log.error(`restore failed: ${errorMessage(e)}`));
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

/** The release `--rollback` goes back to (state.json on the engine's host); bad input when none is recorded. */
export function rollbackTarget(store: DeployStore): ReleaseRef {
  const previous = readState(store).previous;
  if (!previous) throw new BadInputError(`no previous release is recorded in ${store.where}/${STATE_FILE}; nothing to roll back to.`);
  return previous;
}

/** `--rollback`: back to the previous release on demand, same rolling procedure. */
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
    await rollBackTo(ctx, target);
    await smoke(ctx);
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
