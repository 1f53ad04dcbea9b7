import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { addCleanup } from '../cleanup.js';
import { type AuditEntry, appendAudit } from '../deploy/audit.js';
import { currentUser, takeDeployLock } from '../deploy/lock.js';
import type { DeployStore } from '../deploy/store.js';
import type { LoadedEnv } from '../env/load.js';
import { errorMessage, OperationError } from '../errors.js';
import { log } from '../log.js';
import { pgbackrestImages } from '../pgbackrest/layout.js';
import { gitCommit, repoRoot } from '../render/bundle.js';
import { type CommandRunner, formatContainerCommand } from './commands.js';
import { type ClusterAction, type ClusterPlan, planClusterAction } from './plan.js';
import { leaderOf, type MemberStatus, readMembers } from './status.js';

export interface ClusterRunOptions {
  run: CommandRunner;
  /** Where the deploy lock and the audit log live (the deploy's store: a switchover never runs beside a deploy). */
  store: DeployStore;
  dryRun: boolean;
  /** Between two looks at the members while waiting. */
  pollMs?: number;
}

function firstLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).pop() ?? '';
}

/** The plan's lines as the dry run prints them and the real run logs them. */
export function describeClusterPlan(env: LoadedEnv, plan: ClusterPlan): string[] {
  return [
    plan.summary,
    `take the deploy lock (${env.values.COMPOSE_PROJECT_NAME})`,
    formatContainerCommand(plan.command, env.values.COMPOSE_PROJECT_NAME),
    `wait until ${plan.until.what} (patronictl list, at most ${plan.until.timeoutSeconds}s)`,
    'append a line to the audit log; release the deploy lock',
  ];
}

async function waitUntil(env: LoadedEnv, plan: ClusterPlan, options: ClusterRunOptions): Promise<MemberStatus[]> {
  const deadline = Date.now() + plan.until.timeoutSeconds * 1000;
  let last: MemberStatus[] = [];
  for (;;) {
    try {
      last = (await readMembers(env, options.run)).members;
      if (plan.until.done(last)) return last;
    } catch {
      // a member restarting does not answer for a moment
    }
    if (Date.now() > deadline) {
      const seen = last.map((m) => `${m.name} ${m.role} ${m.state}`).join(', ') || 'no answer';
      throw new OperationError(
        `waited ${plan.until.timeoutSeconds}s for ${plan.until.what}; last seen: ${seen}.`,
        'see db-cluster.ts status and the postgres container logs',
      );
    }
    await sleep(options.pollMs ?? 1000);
  }
}

/**
 * A switchover or reinit: the members read, the action planned (refused when
 * unsafe), then under the deploy lock the one command, a wait until Patroni
 * reports the result, and an audit line whatever happened.
 */
export async function runClusterAction(env: LoadedEnv, action: ClusterAction, options: ClusterRunOptions): Promise<ClusterPlan> {
  const { members } = await readMembers(env, options.run);
  const plan = planClusterAction(env, action, members);
  const lines = describeClusterPlan(env, plan);
  if (options.dryRun) {
    for (const line of lines) log.out(`would ${line}`);
    return plan;
  }
  const started = Date.now();
  const lock = takeDeployLock(options.store, { purpose: action.kind, version: env.values.CLUSTER_NAME, env: env.name });
  const entry = (result: AuditEntry['result'], after: MemberStatus[], error?: string): AuditEntry => ({
    time: new Date().toISOString(),
    user: currentUser(),
    host: hostname(),
    env: env.name,
    commit: gitCommit(repoRoot()),
    image: pgbackrestImages(env.values).db,
    tag: env.values.POSTGRES_IMAGE.split(':').pop() as string,
    action: action.kind,
    result,
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    ...(leaderOf({ members }) ? { leaderBefore: leaderOf({ members })?.name } : {}),
    ...(leaderOf({ members: after }) ? { leaderAfter: leaderOf({ members: after })?.name } : {}),
    ...(action.kind === 'reinit' ? { member: action.member } : {}),
    ...(error ? { error } : {}),
  });
  // Ctrl-C still leaves an audit line (cleanups run newest first: before the lock's release).
  const stopAuditOnInterrupt = addCleanup(() => appendAudit(options.store, entry('interrupted', [], 'interrupted')));
  try {
    log.info(lines[0] as string);
    const result = await options.run(plan.command);
    if (result.status !== 0)
      throw new OperationError(
        `patronictl ${action.kind} failed on host ${plan.command.host.name} (exit ${result.status}): ${firstLine(result.stderr || result.stdout)}.`,
      );
    const after = await waitUntil(env, plan, options);
    stopAuditOnInterrupt();
    appendAudit(options.store, entry('success', after));
    log.out(`${action.kind} done: leader ${leaderOf({ members: after })?.name ?? 'none'} (${Math.round((Date.now() - started) / 1000)}s)`);
    return plan;
  } catch (error) {
    stopAuditOnInterrupt();
    appendAudit(options.store, entry('failed', [], errorMessage(error)));
    throw error;
  } finally {
    lock.release();
  }
}
