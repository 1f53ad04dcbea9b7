import { beforeEach, describe, expect, it } from 'vitest';
import { etcdctl, formatContainerCommand, patronictl } from '../../scripts/lib/cluster/commands.js';
import { planClusterAction } from '../../scripts/lib/cluster/plan.js';
import { formatStatus, isEtcdLeader, type MemberStatus, parseMembers } from '../../scripts/lib/cluster/status.js';
import { BadInputError, OperationError } from '../../scripts/lib/errors.js';
import { runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { exampleEnvFile, testEnv } from '../stack/env.js';

const THREE = {
  HOST_DB1: 'engine=ssh://deploy@db1.internal roles=db,app address=10.0.0.11',
  HOST_DB2: 'engine=ssh://deploy@db2.internal:2222 roles=db,app address=10.0.0.12',
  HOST_DB3: 'engine=ssh://deploy@db3.internal roles=db address=10.0.0.13',
};

// `patronictl list -f json` of Patroni 3.0.2, as the native cluster printed it.
const LIST =
  '[{"Cluster": "healthmate", "Member": "db1", "Host": "10.0.0.11", "Role": "Replica", "State": "streaming", "TL": 2, "Lag in MB": 0}, ' +
  '{"Cluster": "healthmate", "Member": "db2", "Host": "10.0.0.12", "Role": "Leader", "State": "running", "TL": 2}, ' +
  '{"Cluster": "healthmate", "Member": "db3", "Host": "10.0.0.13", "Role": "Sync Standby", "State": "streaming", "TL": 2, "Lag in MB": 0}]';
const members = parseMembers(LIST);
const withState = (name: string, change: Partial<MemberStatus>) => members.map((m) => (m.name === name ? { ...m, ...change } : m));

describe('db-cluster plans', () => {
  let env: ReturnType<typeof testEnv>['env'];
  beforeEach(() => {
    env = testEnv('prod', THREE).env;
  });

  it('reads patronictl and etcdctl output (etcd ids beyond 2^53 compared as text)', () => {
    expect(members[1]).toEqual({ name: 'db2', host: '10.0.0.12', role: 'Leader', state: 'running', timeline: 2 });
    expect(members[2]).toMatchObject({ role: 'Sync Standby', lagMb: 0 });
    const status = (self: string, leader: string) =>
      `[{"Endpoint":"https://10.0.0.11:2379","Status":{"header":{"member_id":${self},"raft_term":2},"leader":${leader}}}]`;
    expect(isEtcdLeader(status('3874927395392402212', '3874927395392402212'))).toBe(true);
    // One apart: equal as doubles, different members.
    expect(isEtcdLeader(status('3874927395392402212', '3874927395392402213'))).toBe(false);
  });

  it('switchover: on the leader host, to the synchronous standby; --to names it explicitly', () => {
    const plan = planClusterAction(env, { kind: 'switchover' }, members);
    expect(plan.command.host.name).toBe('db2');
    expect(plan.command.argv).toEqual(patronictl(['switchover', 'healthmate', '--leader', 'db2', '--force']));
    expect(plan.command.argv.slice(0, 4)).toEqual(['/etc/patroni/run.sh', 'patronictl', '-c', '/etc/patroni/patroni.yml']);
    expect(formatContainerCommand(plan.command, 'healthmate')).toBe(
      'DOCKER_HOST=ssh://deploy@db2.internal:2222 docker exec <postgres container of healthmate on db2> /etc/patroni/run.sh patronictl -c /etc/patroni/patroni.yml switchover healthmate --leader db2 --force',
    );
    expect(plan.until.done(members)).toBe(false);
    expect(plan.until.done(withState('db2', { role: 'Replica' }).map((m) => (m.name === 'db3' ? { ...m, role: 'Leader', state: 'running' } : m)))).toBe(true);
    const to = planClusterAction(env, { kind: 'switchover', to: 'db3' }, members);
    expect(to.command.argv).toContain('--candidate');
    expect(to.until.done(withState('db2', { role: 'Replica' }).map((m) => (m.name === 'db1' ? { ...m, role: 'Leader', state: 'running' } : m)))).toBe(false);
  });

  it.each([
    ['--to a stranger', { kind: 'switchover', to: 'db9' }, members, BadInputError, /--to db9 is not a member of the cluster; its members are db1, db2, db3\./],
    ['--to the leader', { kind: 'switchover', to: 'db2' }, members, BadInputError, /--to db2 is the leader already\./],
    [
      '--to an async replica',
      { kind: 'switchover', to: 'db1' },
      members,
      BadInputError,
      /--to db1 is not the synchronous standby \(db3\): with synchronous_mode only it has every commit/,
    ],
    ['--to a stopped member', { kind: 'switchover', to: 'db3' }, withState('db3', { state: 'stopped' }), BadInputError, /--to db3 is stopped, not running/],
    ['no leader', { kind: 'switchover' }, withState('db2', { state: 'stopped' }), OperationError, /the cluster has no running leader/],
    [
      'no sync standby',
      { kind: 'switchover' },
      withState('db3', { role: 'Replica' }),
      OperationError,
      /no synchronous standby is running: a switchover now could lose commits/,
    ],
    ['reinit the leader', { kind: 'reinit', member: 'db2' }, members, BadInputError, /reinit db2: db2 is the leader; switch over first/],
    ['reinit a stranger', { kind: 'reinit', member: 'db7' }, members, BadInputError, /reinit db7 is not a member of the cluster/],
  ] as const)('refuses %s', (_name, action, state, kind, message) => {
    expect(() => planClusterAction(env, action as never, state as MemberStatus[])).toThrow(kind);
    expect(() => planClusterAction(env, action as never, state as MemberStatus[])).toThrow(message);
  });

  it('reinit runs on the member’s own host and waits for it to replicate again', () => {
    const plan = planClusterAction(env, { kind: 'reinit', member: 'db1' }, members);
    expect(plan.command).toMatchObject({ service: 'postgres', argv: patronictl(['reinit', 'healthmate', 'db1', '--force', '--wait']) });
    expect(plan.command.host.name).toBe('db1');
    expect(plan.until.done(withState('db1', { state: 'creating replica' }))).toBe(false);
    expect(plan.until.done(members)).toBe(true);
  });

  it('status: one line per host, etcd through the address it advertises', () => {
    const host = env.inventory.hosts[0] as never;
    expect(etcdctl(host, 2379, ['endpoint', 'health'])[1]).toBe('--endpoints=https://10.0.0.11:2379');
    const lines = formatStatus(env, {
      from: 'db1',
      members,
      etcd: [
        { host: 'db1', healthy: true, leader: false },
        { host: 'db2', healthy: true, leader: true },
        { host: 'db3', healthy: false, leader: false, error: 'context deadline exceeded' },
      ],
    });
    expect(lines).toEqual([
      'cluster healthmate: 3 members, leader db2, sync standby db3; etcd 2/3 healthy (quorum 2)',
      '  db1 (10.0.0.11): patroni Replica, streaming, timeline 2, lag 0 MB; etcd healthy',
      '  db2 (10.0.0.12): patroni Leader, running, timeline 2; etcd healthy (raft leader)',
      '  db3 (10.0.0.13): patroni Sync Standby, streaming, timeline 2, lag 0 MB; etcd UNHEALTHY: context deadline exceeded',
    ]);
  });
});

describe('db-cluster.ts bad input: one sentence, exit 2', () => {
  it.each([
    [[], /say what to do: --status, --switchover or --reinit MEMBER\./],
    [['--failover'], /unknown option --failover/],
    [['--reinit'], /--reinit needs a value: <member>/],
    [['--reinit', 'DB1'], /--reinit must be a member name as db-cluster\.ts --status lists it/],
    [['--status', '--reinit', 'db1'], /--status and --reinit/],
    [['--status', '--to', 'db1'], /--to applies only with --switchover/],
    [['--switchover', '--switchover'], /--switchover is given twice/],
    [['--env', 'dev', '--status'], /db-cluster\.ts runs only with --env prod, not "dev"; dev runs one plain PostgreSQL, without Patroni\./],
  ])('%j', (argv, message) => {
    const result = runScript('db-cluster.ts', ['--env-file', exampleEnvFile(tempDir()), ...argv]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('db-cluster.ts against an engine that is not there', () => {
  it.each([['--status'], ['--switchover', '--dry-run']])('%j: one sentence naming the host, exit 1', (...argv) => {
    const result = runScript('db-cluster.ts', ['--env-file', exampleEnvFile(tempDir()), ...argv], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: the Docker engine of host main did not answer \(Cannot connect to the Docker daemon/m);
  });
});
