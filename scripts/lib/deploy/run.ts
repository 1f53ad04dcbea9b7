/** The whole deploy: runs the plan's steps in order under the lock, records the outcome in the audit log. */
import { hostname } from 'node:os';
import { addCleanup } from '../cleanup.js';
import { CLUSTER_SERVICES } from '../cluster/topology.js';
import { datastoreProblem, inspectContainers, serviceContainers } from '../containers.js';
import { engineName } from '../docker-engine.js';
import { BadInputError, errorMessage, OperationError } from '../errors.js';
import { localShell } from '../host-shell.js';
import { log } from '../log.js';
import { gitCommit, repoRoot } from '../render/bundle.js';
import { type AuditEntry, appendAudit } from './audit.js';
import { clusterUp } from './cluster-up.js';
import { compose } from './commands.js';
import { type DeployContext, forHost } from './context.js';
import { type HostTarget, hasRole, onEngine, refuseUnreachable } from './hosts.js';
import { currentUser, deployLockHolder, describeOwner, type HeldLock, takeDeployLock } from './lock.js';
import type { PlanStep } from './plan.js';
import { APP_DATASTORES } from './plan-hosts.js';
import { backup, check, ensureCertificates, render } from './prepare.js';
import { pruneReleases } from './releases.js';
import { recover } from './rollback.js';
import { datastores, migrate, monitoring, rollingUpdate } from './rollout.js';
import { smoke } from './smoke.js';
import { pullImages, releaseBundle, stageRelease } from './stage.js';
import { readState, recordRelease } from './state.js';
import { deployStore } from './store.js';

/** The steps an app host runs, each on its engine with its own stack folder. */
const HOST_STEPS: Partial<Record<PlanStep['id'], (ctx: DeployContext) => Promise<void>>> = {
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

/** A step that works on the hosts: every host, the db hosts, the first db host, or the app host it names. */
async function applyStep(ctx: DeployContext, s: PlanStep): Promise<void> {
  const targetNamed = (name: string): HostTarget => ctx.plan.hosts.find((t) => t.host.name === name) as HostTarget;
  if (s.id === 'backup') {
    const db = ctx.plan.hosts.find((t) => hasRole(t, 'db')) as HostTarget;
    return onEngine(db, () => backup(forHost(ctx, db)));
  }
  if (s.id === 'pull') {
    for (const target of ctx.plan.hosts) {
      const hostCtx = forHost(ctx, target);
      await onEngine(target, async () => {
        await pullImages(hostCtx);
        await stageRelease(hostCtx, releaseBundle(hostCtx));
      });
    }
    return;
  }
  if (s.id === 'cluster') return clusterUp(ctx);
  const step = HOST_STEPS[s.id];
  if (step && s.host) {
    const target = targetNamed(s.host);
    await onEngine(target, () => step(forHost(ctx, target)));
  }
}

/** Runs the plan. Throws after recording the outcome; the caller maps the error to the exit code. */
export async function executeDeploy(ctx: DeployContext, scratch: string): Promise<void> {
  const { plan, paths } = ctx;
  const started = Date.now();
  const total = plan.steps.length;
  const step = (id: PlanStep['id']): PlanStep => plan.steps.find((s) => s.id === id) as PlanStep;
  const announce = (s: PlanStep): void => log.step(s.index, total, `${s.host ? `[host ${s.host}] ` : ''}${s.title}`);

  announce(step('env'));
  // Every engine was asked before anything else (deployContext); a real deploy refuses one that did not answer under the lock below.
  announce(step('engines'));
  for (const answer of ctx.engines) {
    if (answer.version) log.info(`  host ${answer.target.host.name}: Docker engine ${answer.version}`);
    else if (ctx.dryRun)
      log.warn(
        `host ${answer.target.host.name}'s Docker engine (${engineName(answer.target.dockerHost)}) cannot be reached: ${answer.problem} (a real deploy would stop here).`,
      );
  }

  announce(step('lock'));
  let lock: HeldLock | undefined;
  if (ctx.dryRun) {
    const holder = deployLockHolder(ctx.store);
    if (holder && holder.verdict !== 'dead')
      log.warn(`a deploy holds the lock on ${ctx.store.shell.where} now: ${holder.owner ? describeOwner(holder.owner) : 'unreadable owner'}.`);
  } else {
    lock = takeDeployLock(ctx.store, { purpose: 'deploy', version: plan.tag, env: plan.env.name });
    // Checked under the lock (a held lock is said first), before anything changed on any host, leaving no
    // lock: another operator may have deployed since the plan (its rollback target would be wrong), and
    // every engine must have answered.
    try {
      const current = readState(ctx.store).current;
      if (current?.release !== plan.previous?.release)
        throw new BadInputError(
          `the release state on ${ctx.store.where} changed since the plan was made: ${current ? `${current.tag} (release ${current.release})` : 'nothing'} runs now; nothing was started or stopped.`,
          'run the deploy again to plan against it',
        );
      refuseUnreachable(ctx.engines);
    } catch (error) {
      lock.release();
      throw error;
    }
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
  const where = (s: PlanStep): string => `step ${s.index} (${s.id}${s.host ? ` on host ${s.host}` : ''})`;
  // Ctrl-C still leaves a line in the audit log (cleanups run newest first: before the lock's release).
  const stopAuditOnInterrupt = ctx.dryRun
    ? () => undefined
    : addCleanup(() => appendAudit(ctx.store, auditEntry('interrupted', reached ? `interrupted at ${where(reached)}` : 'interrupted')));
  try {
    reached = step('render');
    announce(reached);
    const releaseDir = render(ctx, scratch);
    reached = step('check');
    announce(reached);
    await check(ctx, releaseDir);
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
      await applyStep(ctx, s);
    }
    reached = step('audit');
    announce(reached);
    const state = recordRelease(ctx.store, { release: plan.releaseId, tag: plan.tag, at: new Date().toISOString() });
    const keep = [plan.releaseId, state.current?.release].filter((x): x is string => Boolean(x));
    pruneReleases(localShell(), paths.deploy, keep);
    for (const target of plan.hosts.filter((t) => t.engine.kind === 'ssh')) pruneReleases(deployStore(target.engine, paths.deploy).shell, paths.deploy, keep);
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
      appendAudit(ctx.store, auditEntry(result, failure ? `${where(reached)}: ${errorMessage(failure)}${cause}` : undefined));
    }
    if (!ctx.dryRun) log.step(step('unlock').index, total, step('unlock').title);
    lock?.release();
  }
  if (failure) {
    const at = reached ? `${where(reached).replace(/^step \d+ \((\w+)/, `step ${reached.index} (${reached.title}`)}` : 'start';
    const outcome = result === 'rolled-back' ? `; rolled back to ${plan.previous?.tag}` : '';
    if (failure instanceof BadInputError) throw failure;
    // A datastore that went away explains the failure better than the container that noticed it.
    const cause =
      datastores.length > 0
        ? `. The cause is not the release: ${datastores.join(' ')} The ${result === 'rolled-back' ? 'old' : 'running'} backend cannot serve until it is back.`
        : '';
    throw new OperationError(
      `deploy of ${plan.tag} failed at ${at}: ${errorMessage(failure)}${outcome}${cause}`,
      failure instanceof OperationError && !cause ? failure.hint : undefined,
    );
  }
  log.info(
    `deployed ${plan.image} (release ${plan.releaseId}) on ${plan.hosts.length} host${plan.hosts.length > 1 ? 's' : ''} in ${Math.round((Date.now() - started) / 1000)}s`,
  );
}

/** The datastores each host runs (db: etcd, PostgreSQL; app: HAProxy, Redis). */
function hostDatastores(target: HostTarget): string[] {
  return [...(hasRole(target, 'db') ? [CLUSTER_SERVICES.etcd, CLUSTER_SERVICES.postgres] : []), ...(hasRole(target, 'app') ? APP_DATASTORES : [])];
}

/** After a failure from the cluster step on: the datastores that cannot serve, one sentence each, naming the host when there are several. */
async function datastoreProblems(ctx: DeployContext, reached: PlanStep | undefined): Promise<string[]> {
  const cluster = ctx.plan.steps.find((s) => s.id === 'cluster');
  if (ctx.dryRun || !reached || !cluster || reached.index < cluster.index) return [];
  const project = ctx.plan.env.values.COMPOSE_PROJECT_NAME;
  const problems: string[] = [];
  for (const target of ctx.plan.hosts) {
    for (const service of hostDatastores(target)) {
      try {
        const problem = await onEngine(target, async () => datastoreProblem(service, await inspectContainers(await serviceContainers(project, service))));
        if (problem) problems.push(ctx.plan.hosts.length > 1 ? `On host ${target.host.name}, ${problem}` : problem);
      } catch {
        // The engine itself may be gone; the failure above says so already.
      }
    }
  }
  return problems;
}
