import { dbHosts, type InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError, OperationError } from '../errors.js';
import { type ContainerCommand, patronictl } from './commands.js';
import { isRunning, LEADER, leaderOf, type MemberStatus, SYNC_STANDBY } from './status.js';

/** What db-cluster.ts changes: a planned leader change, or a member rebuilt from the leader. */
export type ClusterAction = { kind: 'switchover'; to?: string } | { kind: 'reinit'; member: string };

export interface ClusterPlan {
  action: ClusterAction;
  /** One sentence: what changes. */
  summary: string;
  command: ContainerCommand;
  /** What the run waits for afterwards, checked on `patronictl list`. */
  until: { what: string; done: (members: MemberStatus[]) => boolean; timeoutSeconds: number };
}

/** A replica copied again from scratch can take long on a big database. */
export const REINIT_TIMEOUT_SECONDS = 3600;

function hostOf(env: LoadedEnv, member: string): InventoryHost {
  const host = dbHosts(env.inventory).find((h) => h.name === member);
  if (!host)
    throw new OperationError(`Patroni reports a member ${member}, which no db host of the inventory names; render and deploy the inventory the cluster runs.`);
  return host;
}

function knownMember(members: MemberStatus[], name: string, flag: string): MemberStatus {
  const member = members.find((m) => m.name === name);
  if (!member) throw new BadInputError(`${flag} ${name} is not a member of the cluster; its members are ${members.map((m) => m.name).join(', ')}.`);
  return member;
}

/**
 * The switchover: the leader hands over to its synchronous standby (Patroni's
 * synchronous_mode allows no other candidate, so no commit is lost), or to
 * --to when that is the sync standby. Refused without a running leader: then
 * Patroni fails over by itself.
 */
function switchoverPlan(env: LoadedEnv, members: MemberStatus[], to: string | undefined): ClusterPlan {
  const leader = leaderOf({ members });
  if (!leader)
    throw new OperationError('the cluster has no running leader: there is nothing to switch over from; Patroni promotes a replica by itself (docs/ha.md).');
  const sync = members.filter((m) => m.role === SYNC_STANDBY && isRunning(m));
  let candidate: MemberStatus | undefined;
  if (to !== undefined) {
    candidate = knownMember(members, to, '--to');
    if (candidate.name === leader.name) throw new BadInputError(`--to ${to} is the leader already.`);
    if (!isRunning(candidate)) throw new BadInputError(`--to ${to} is ${candidate.state}, not running: it cannot take over.`);
    if (!sync.some((m) => m.name === candidate?.name))
      throw new BadInputError(
        `--to ${to} is not the synchronous standby (${sync.map((m) => m.name).join(', ') || 'none'}): with synchronous_mode only it has every commit; leave --to out or name it.`,
      );
  } else if (sync.length === 0) {
    throw new OperationError('no synchronous standby is running: a switchover now could lose commits; wait until a replica is in sync (db-cluster.ts status).');
  }
  const scope = env.values.CLUSTER_NAME;
  const args = ['switchover', scope, '--leader', leader.name, ...(candidate ? ['--candidate', candidate.name] : []), '--force'];
  const target = candidate?.name;
  return {
    action: { kind: 'switchover', ...(to !== undefined ? { to } : {}) },
    summary: `switch the leader of ${scope} from ${leader.name} to ${target ?? `its synchronous standby (${sync.map((m) => m.name).join(', ')})`}`,
    command: { host: hostOf(env, leader.name), service: 'postgres', argv: patronictl(args) },
    until: {
      what: `a new leader${target ? ` (${target})` : ''} running`,
      done: (now) => {
        const next = leaderOf({ members: now });
        return next !== undefined && next.name !== leader.name && (target === undefined || next.name === target);
      },
      timeoutSeconds: 3 * env.values.PATRONI_TTL + 60,
    },
  };
}

/** reinit: a replica's data thrown away and copied again (pgBackRest, else from the leader); never the leader. */
function reinitPlan(env: LoadedEnv, members: MemberStatus[], name: string): ClusterPlan {
  const member = knownMember(members, name, 'reinit');
  if (member.role === LEADER) throw new BadInputError(`reinit ${name}: ${name} is the leader; switch over first (db-cluster.ts switchover), then reinit it.`);
  const scope = env.values.CLUSTER_NAME;
  return {
    action: { kind: 'reinit', member: name },
    summary: `rebuild member ${name} of ${scope}: its data folder is replaced by a fresh copy (pgBackRest restore, else a base backup of the leader)`,
    command: { host: hostOf(env, name), service: 'postgres', argv: patronictl(['reinit', scope, name, '--force', '--wait']) },
    until: {
      what: `${name} running as a replica`,
      done: (now) => now.some((m) => m.name === name && m.role !== LEADER && isRunning(m)),
      timeoutSeconds: REINIT_TIMEOUT_SECONDS,
    },
  };
}

export function planClusterAction(env: LoadedEnv, action: ClusterAction, members: MemberStatus[]): ClusterPlan {
  return action.kind === 'switchover' ? switchoverPlan(env, members, action.to) : reinitPlan(env, members, action.member);
}
