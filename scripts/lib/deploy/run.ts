/** The whole deploy: runs the plan's steps in order under the lock, records the outcome in the audit log. */
import { hostname } from 'node:os';
import { addCleanup } from '../cleanup.js';
import { engineName } from '../docker-engine.js';
import { BadInputError, errorMessage, OperationError } from '../errors.js';
import { localShell } from '../host-shell.js';
import { log } from '../log.js';
import { gitCommit, repoRoot } from '../render/bundle.js';
import { type AuditEntry, appendAudit } from './audit.js';
import { compose } from './commands.js';
import type { DeployContext } from './context.js';
import { datastoreProblem, engineVersion, inspectContainers, serviceContainers } from './docker.js';
import { currentUser, deployLockHolder, describeOwner, type HeldLock, takeDeployLock } from './lock.js';
import { DATASTORES, type PlanStep } from './plan.js';
import { backup, check, ensureCertificates, render } from './prepare.js';
import { pruneReleases } from './releases.js';
import { recover } from './rollback.js';
import { datastores, migrate, monitoring, rollingUpdate } from './rollout.js';
import { smoke } from './smoke.js';
import { pullImages, stageRelease } from './stage.js';
import { readState, recordRelease } from './state.js';

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
    else log.warn(`the Docker engine at ${engineName()} cannot be reached (a real deploy would stop here).`);
  }

  announce(step('lock'));
  let lock: HeldLock | undefined;
  if (ctx.dryRun) {
    const holder = deployLockHolder(ctx.store);
    if (holder && holder.verdict !== 'dead')
      log.warn(`a deploy holds the lock on ${ctx.store.shell.where} now: ${holder.owner ? describeOwner(holder.owner) : 'unreadable owner'}.`);
  } else {
    lock = takeDeployLock(ctx.store, { purpose: 'deploy', version: plan.tag, env: plan.env.name });
  }

  let reached: PlanStep | undefined;
  let result: AuditEntry['result'] = 'failed';
  let failure: unknown;
  let datastores: string[] = [];
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
    ...(ctx.input.skipChecks.length > 0 ? { skippedChecks: [...ctx.input.skipChecks].sort() } : {}),
    ...(error ? { error } : {}),
  });
  // Ctrl-C still leaves a line in the audit log (cleanups run newest first: before the lock's release).
  const stopAuditOnInterrupt = ctx.dryRun
    ? () => undefined
    : addCleanup(() => appendAudit(ctx.store, auditEntry('interrupted', reached ? `interrupted at step ${reached.index} (${reached.id})` : 'interrupted')));
  try {
    if (!ctx.dryRun) {
      // Another operator may have deployed between the plan and the lock: its rollback target would be wrong.
      const current = readState(ctx.store).current;
      if (current?.release !== plan.previous?.release)
        throw new BadInputError(
          `the release state on ${ctx.store.where} changed since the plan was made: ${current ? `${current.tag} (release ${current.release})` : 'nothing'} runs now; nothing was started or stopped.`,
          'run the deploy again to plan against it',
        );
    }
    // Probed under the lock, so a deploy that cannot reach the engine changes nothing and leaves no lock.
    if (!ctx.dryRun) {
      const version = await engineVersion();
      if (!version) {
        throw new BadInputError(`the Docker engine at ${engineName()} cannot be reached; nothing was started or stopped.`, 'start Docker or fix DOCKER_HOST');
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
    const state = recordRelease(ctx.store, { release: plan.releaseId, tag: plan.tag, at: new Date().toISOString() });
    const keep = [plan.releaseId, state.current?.release].filter((x): x is string => Boolean(x));
    pruneReleases(localShell(), paths.deploy, keep);
    if (ctx.host.kind === 'ssh') pruneReleases(ctx.store.shell, paths.deploy, keep);
    result = 'success';
  } catch (error) {
    failure = error;
    result = await recover(ctx, reached, error);
    datastores = await datastoreProblems(ctx, reached);
    for (const problem of datastores) log.error(problem);
  } finally {
    stopAuditOnInterrupt();
    if (!ctx.dryRun && reached && reached.index >= step('render').index) {
      const cause = datastores.length > 0 ? ` (${datastores.join(' ')})` : '';
      appendAudit(ctx.store, auditEntry(result, failure ? `step ${reached.index} (${reached.id}): ${errorMessage(failure)}${cause}` : undefined));
    }
    if (!ctx.dryRun) log.step(step('unlock').index, total, step('unlock').title);
    lock?.release();
  }
  if (failure) {
    const where = reached ? `step ${reached.index} (${reached.title})` : 'start';
    const outcome = result === 'rolled-back' ? `; rolled back to ${plan.previous?.tag}` : '';
    if (failure instanceof BadInputError) throw failure;
    // A datastore that went away explains the failure better than the container that noticed it.
    const cause =
      datastores.length > 0
        ? `. The cause is not the release: ${datastores.join(' ')} The ${result === 'rolled-back' ? 'old' : 'running'} backend cannot serve until it is back.`
        : '';
    throw new OperationError(
      `deploy of ${plan.tag} failed at ${where}: ${errorMessage(failure)}${outcome}${cause}`,
      failure instanceof OperationError && !cause ? failure.hint : undefined,
    );
  }
  log.info(`deployed ${plan.image} (release ${plan.releaseId}) in ${Math.round((Date.now() - started) / 1000)}s`);
}

/** After a failure from the datastores step on: the datastores that cannot serve, one sentence each. */
async function datastoreProblems(ctx: DeployContext, reached: PlanStep | undefined): Promise<string[]> {
  const datastoresStep = ctx.plan.steps.find((s) => s.id === 'datastores');
  if (ctx.dryRun || !reached || !datastoresStep || reached.index < datastoresStep.index) return [];
  const project = ctx.plan.env.values.COMPOSE_PROJECT_NAME;
  const problems: string[] = [];
  for (const service of DATASTORES) {
    try {
      const problem = datastoreProblem(service, await inspectContainers(await serviceContainers(project, service)));
      if (problem) problems.push(problem);
    } catch {
      // The engine itself may be gone; the failure above says so already.
    }
  }
  return problems;
}
