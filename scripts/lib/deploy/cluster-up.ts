/**
 * The cluster step: etcd, PostgreSQL under Patroni and the pgbackrest server
 * on every db host, and a changed PostgreSQL rolled member by member.
 */
import { join } from 'node:path';
import { dockerRunner } from '../cluster/commands.js';
import { planClusterAction, REINIT_TIMEOUT_SECONDS } from '../cluster/plan.js';
import { type ClusterRunner, carryOut, waitForMembers } from '../cluster/run.js';
import { isRunning, LEADER, type MemberStatus, readMembers, SYNC_STANDBY } from '../cluster/status.js';
import { CLUSTER_SERVICES } from '../cluster/topology.js';
import { serviceFingerprint } from '../compose/roles.js';
import { waitServicesHealthy } from '../containers.js';
import { log } from '../log.js';
import { PGBACKREST_SERVICE } from './argv.js';
import { compose } from './commands.js';
import { type DeployContext, forHost } from './context.js';
import { type HostTarget, hasRole, onEngine } from './hosts.js';
import { hostRelease } from './stage.js';

/** What the cluster step does to one db host's PostgreSQL, in order. */
export type RollAction =
  /** `up -d --no-deps postgres`: starts a member that does not run; a no-op on an unchanged one. */
  | { kind: 'start'; host: string }
  /** `up -d --no-deps --force-recreate postgres`, then wait until it runs as a replica. */
  | { kind: 'recreate'; host: string }
  /** db-cluster.ts's switchover away from this leader (to its synchronous standby), then wait for the new leader. */
  | { kind: 'switchover'; from: string };

/**
 * The order a PostgreSQL change rolls in, as data: unchanged members and db
 * hosts without a member are started first (a new host becomes a replica),
 * then the changed replicas (the async ones, then the synchronous standbys, so
 * a standby stays in sync as long as possible), then a switchover away from
 * the leader, then the old leader like a replica. Writes pause only for the
 * switchover, and it goes to the synchronous standby, so no commit is lost.
 * A cluster of one db host has nothing to switch to: its leader is recreated
 * in place (writes pause for the restart). `members` undefined (no cluster
 * answers: a first deploy) starts every host.
 */
export function postgresRollout(hosts: string[], members: MemberStatus[] | undefined, changed: ReadonlySet<string>): RollAction[] {
  const member = (host: string): MemberStatus | undefined => members?.find((m) => m.name === host && isRunning(m));
  const rolled = hosts.filter((h) => changed.has(h) && member(h));
  const start = hosts.filter((h) => !rolled.includes(h)).map((host): RollAction => ({ kind: 'start', host }));
  const replicas = rolled.filter((h) => member(h)?.role !== LEADER);
  const leader = rolled.find((h) => member(h)?.role === LEADER);
  const bySync = [...replicas].sort((a, b) => Number(member(a)?.role === SYNC_STANDBY) - Number(member(b)?.role === SYNC_STANDBY));
  // Every other db host runs a member by the time of the switchover (the executor waits for a synchronous standby).
  const others = hosts.filter((h) => h !== leader);
  return [
    ...start,
    ...bySync.map((host): RollAction => ({ kind: 'recreate', host })),
    ...(leader ? [...(others.length > 0 ? [{ kind: 'switchover', from: leader } as RollAction] : []), { kind: 'recreate', host: leader } as RollAction] : []),
  ];
}

/** The db hosts whose PostgreSQL (image, definition, patroni/ and postgres/ files, secrets) differs from the running release's. */
export async function changedPostgres(ctx: DeployContext, db: HostTarget[]): Promise<Set<string>> {
  const changed = new Set<string>();
  const previous = ctx.plan.previous;
  if (!previous) return changed;
  for (const target of db) {
    const before = await hostRelease(forHost(ctx, target), previous.release);
    const now = serviceFingerprint(join(ctx.plan.releaseDir, target.folder), CLUSTER_SERVICES.postgres);
    if (before && serviceFingerprint(before, CLUSTER_SERVICES.postgres) !== now) changed.add(target.host.name);
  }
  return changed;
}

/** Patroni's members, or undefined when no db host's patronictl answers (nothing runs yet). */
async function currentMembers(ctx: DeployContext, runner: ClusterRunner): Promise<MemberStatus[] | undefined> {
  try {
    return (await readMembers(ctx.plan.env, runner.run)).members;
  } catch {
    return undefined;
  }
}

/** A member timeout for the waits of the roll: a restarted replica replays what it missed. */
const MEMBER_TIMEOUT_SECONDS = 600;

const runningReplica = (host: string) => ({
  what: `${host} running as a replica`,
  done: (members: MemberStatus[]) => members.some((m) => m.name === host && m.role !== LEADER && isRunning(m)),
  timeoutSeconds: MEMBER_TIMEOUT_SECONDS,
});

/** Runs the cluster step on the db hosts, one host's engine at a time. */
export async function clusterUp(ctx: DeployContext): Promise<void> {
  const { env } = ctx.plan;
  const db = ctx.plan.hosts.filter((t) => hasRole(t, 'db'));
  const byName = new Map(db.map((t) => [t.host.name, t]));
  const project = env.values.COMPOSE_PROJECT_NAME;
  const timeout = env.values.BACKEND_HEALTH_TIMEOUT;
  const runner: ClusterRunner = { run: dockerRunner(project) };
  const onEach = async (work: (c: DeployContext, t: HostTarget) => Promise<void>): Promise<void> => {
    for (const target of db) await onEngine(target, () => work(forHost(ctx, target), target));
  };
  const healthy = (service: string) => (_c: DeployContext, t: HostTarget) =>
    waitServicesHealthy(project, [service], timeout, `${service} on host ${t.host.name}`);

  // etcd on every db host before any wait: a new cluster answers only once a majority of its members runs.
  await onEach((c) => compose(c, ['up', '-d', '--no-deps', CLUSTER_SERVICES.etcd]));
  await onEach(healthy(CLUSTER_SERVICES.etcd));

  const changed = await changedPostgres(ctx, db);
  const actions = postgresRollout([...byName.keys()], await currentMembers(ctx, runner), changed);
  if (changed.size > 0) log.info(`  PostgreSQL changed on ${[...changed].join(', ')}: rolled member by member`);
  for (const action of actions) {
    if (action.kind === 'switchover') {
      // Only the synchronous standby may take over (every commit is on it): wait until one runs again after the replicas' restarts.
      // A replica a new host just started may first be restored from the repository: as long as a reinit may take.
      const members = await waitForMembers(
        env,
        { what: 'a running synchronous standby', done: (m) => m.some((x) => x.role === SYNC_STANDBY && isRunning(x)), timeoutSeconds: REINIT_TIMEOUT_SECONDS },
        runner,
      );
      const plan = planClusterAction(env, { kind: 'switchover' }, members);
      log.info(`  ${plan.summary}`);
      await carryOut(env, plan, runner);
      continue;
    }
    const target = byName.get(action.host) as HostTarget;
    const recreate = action.kind === 'recreate' ? ['--force-recreate'] : [];
    if (action.kind === 'recreate') log.info(`  recreating PostgreSQL on ${action.host}`);
    await onEngine(target, () => compose(forHost(ctx, target), ['up', '-d', '--no-deps', ...recreate, CLUSTER_SERVICES.postgres]));
    if (action.kind === 'recreate') {
      await onEngine(target, () => healthy(CLUSTER_SERVICES.postgres)(ctx, target));
      await waitForMembers(env, runningReplica(action.host), runner);
    }
  }
  await onEach(healthy(CLUSTER_SERVICES.postgres));
  const names = [...byName.keys()];
  await waitForMembers(
    env,
    {
      what: `a leader and every member (${names.join(', ')}) running`,
      done: (members) => members.some((m) => m.role === LEADER && isRunning(m)) && names.every((n) => members.some((m) => m.name === n && isRunning(m))),
      timeoutSeconds: MEMBER_TIMEOUT_SECONDS,
    },
    runner,
  );
  await onEach((c) => compose(c, ['up', '-d', '--no-deps', PGBACKREST_SERVICE]));
  await onEach(healthy(PGBACKREST_SERVICE));
}
