import { dbHosts, type InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { OperationError } from '../errors.js';
import { type CommandRunner, type ContainerCommand, etcdctl, patronictl } from './commands.js';

/** One Patroni member as `patronictl list -f json` reports it. */
export interface MemberStatus {
  name: string;
  host: string;
  /** Leader, Sync Standby, Replica (Standby Leader for a standby cluster). */
  role: string;
  /** running, streaming, starting, stopped, crashed, creating replica… */
  state: string;
  timeline?: number;
  lagMb?: number;
}

export interface EtcdStatus {
  host: string;
  /** Answers a quorum read. */
  healthy: boolean;
  /** This member is etcd's raft leader. */
  leader: boolean;
  error?: string;
}

export interface ClusterStatus {
  /** The host whose patronictl answered. */
  from: string;
  members: MemberStatus[];
  etcd: EtcdStatus[];
}

interface PatronictlRow {
  Member: string;
  Host: string;
  Role: string;
  State: string;
  TL?: number;
  'Lag in MB'?: number | string;
}

export function parseMembers(json: string): MemberStatus[] {
  const rows = JSON.parse(json) as PatronictlRow[];
  return rows.map((r) => ({
    name: r.Member,
    host: r.Host,
    role: r.Role,
    state: r.State,
    ...(typeof r.TL === 'number' ? { timeline: r.TL } : {}),
    ...(typeof r['Lag in MB'] === 'number' ? { lagMb: r['Lag in MB'] } : {}),
  }));
}

/** `etcdctl endpoint status -w json` → whether this member leads (ids compared as text: they exceed 2^53). */
export function isEtcdLeader(json: string): boolean {
  const self = /"member_id":(\d+)/.exec(json)?.[1];
  return self !== undefined && /"leader":(\d+)/.exec(json)?.[1] === self;
}

export const LEADER = 'Leader';
export const SYNC_STANDBY = 'Sync Standby';
const RUNNING = new Set(['running', 'streaming']);

export function isRunning(member: MemberStatus): boolean {
  return RUNNING.has(member.state);
}

export function leaderOf(status: Pick<ClusterStatus, 'members'>): MemberStatus | undefined {
  return status.members.find((m) => m.role === LEADER && isRunning(m));
}

function firstLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).pop() ?? '';
}

/** The members as Patroni sees them, from the first db host whose patronictl answers. */
export async function readMembers(env: LoadedEnv, run: CommandRunner): Promise<{ from: string; members: MemberStatus[] }> {
  const failures: string[] = [];
  for (const host of dbHosts(env.inventory)) {
    const result = await run({ host, service: 'postgres', argv: patronictl(['list', '-f', 'json']) });
    if (result.status === 0) return { from: host.name, members: parseMembers(result.stdout) };
    failures.push(`${host.name}: ${firstLine(result.stderr || result.stdout) || `exit ${result.status}`}`);
  }
  throw new OperationError(`no db host's patronictl answered (${failures.join('; ')}).`, 'check the postgres containers: docker ps, docker logs');
}

async function readEtcd(env: LoadedEnv, host: InventoryHost, run: CommandRunner): Promise<EtcdStatus> {
  const command = (args: string[]): ContainerCommand => ({ host, service: 'etcd', argv: etcdctl(host, env.values.ETCD_CLIENT_PORT, args) });
  const health = await run(command(['endpoint', 'health', '-w', 'json']));
  const status = await run(command(['endpoint', 'status', '-w', 'json']));
  return {
    host: host.name,
    healthy: health.status === 0 && /"health":true/.test(health.stdout),
    leader: status.status === 0 && isEtcdLeader(status.stdout),
    ...(health.status !== 0 ? { error: firstLine(health.stderr || health.stdout) || `exit ${health.status}` } : {}),
  };
}

/** Every member's role, state, timeline and lag, and each host's etcd member. */
export async function readStatus(env: LoadedEnv, run: CommandRunner): Promise<ClusterStatus> {
  const { from, members } = await readMembers(env, run);
  const etcd: EtcdStatus[] = [];
  for (const host of dbHosts(env.inventory)) etcd.push(await readEtcd(env, host, run));
  return { from, members, etcd };
}

/** The report, per host: Patroni's member and the etcd member. */
export function formatStatus(env: LoadedEnv, status: ClusterStatus): string[] {
  const leader = leaderOf(status);
  const sync = status.members.filter((m) => m.role === SYNC_STANDBY).map((m) => m.name);
  const etcdUp = status.etcd.filter((e) => e.healthy).length;
  const lines = [
    `cluster ${env.values.CLUSTER_NAME}: ${status.members.length} members, leader ${leader?.name ?? 'NONE'}, sync standby ${sync.join(', ') || 'none'}; etcd ${etcdUp}/${status.etcd.length} healthy (quorum ${Math.floor(status.etcd.length / 2) + 1})`,
  ];
  for (const host of dbHosts(env.inventory)) {
    const member = status.members.find((m) => m.name === host.name);
    const etcd = status.etcd.find((e) => e.host === host.name);
    const patroni = member
      ? `${member.role}, ${member.state}, timeline ${member.timeline ?? '?'}${member.role === LEADER ? '' : `, lag ${member.lagMb ?? '?'} MB`}`
      : 'not a member (Patroni not running?)';
    const etcdText = etcd ? (etcd.healthy ? `healthy${etcd.leader ? ' (raft leader)' : ''}` : `UNHEALTHY: ${etcd.error ?? 'no answer'}`) : 'not asked';
    lines.push(`  ${host.name}${host.address ? ` (${host.address})` : ''}: patroni ${patroni}; etcd ${etcdText}`);
  }
  return lines;
}
