import { describe, expect, it } from 'vitest';
import type { MemberStatus } from '../../scripts/lib/cluster/status.js';
import { COMPOSE_V1 } from '../../scripts/lib/compose/engine.js';
import { passedOverrides, scriptArgv } from '../../scripts/lib/deploy/argv.js';
import { postgresRollout } from '../../scripts/lib/deploy/cluster-up.js';
import { hostTargets } from '../../scripts/lib/deploy/hosts.js';
import { buildPlan, formatPlan, type PlanInput } from '../../scripts/lib/deploy/plan.js';
import { testEnv } from './env.js';

/** The 3-host layout of the issue: two hosts with both roles, a third db host only. */
const THREE = {
  HOST_DB1: 'engine=ssh://deploy@db1.internal roles=db,app address=10.0.0.11',
  HOST_DB2: 'engine=ssh://deploy@db2.internal:2222 roles=db,app address=10.0.0.12',
  HOST_DB3: 'engine=ssh://deploy@db3.internal roles=db address=10.0.0.13',
};

function input(hostLines: Record<string, string>, extra: Partial<PlanInput> = {}, callerDockerHost?: string): PlanInput {
  const { env, envFile } = testEnv('prod', hostLines);
  return {
    env,
    ...(envFile ? { envFile } : {}),
    overrides: {},
    flavor: COMPOSE_V1,
    hosts: hostTargets(env, COMPOSE_V1, callerDockerHost),
    releaseId: '20260101T000000Z-1.0.0',
    skipBackup: false,
    skipChecks: [],
    asRoot: true,
    ...extra,
  };
}

/** The steps that run here, before any host changes. */
const HERE = ['env', 'lock', 'engines', 'render', 'check', 'certs', 'backup'];
const ids = (plan: ReturnType<typeof buildPlan>) => plan.steps.map((s) => (s.host ? `${s.id}@${s.host}` : s.id));

describe('the deploy plan across hosts', () => {
  it('3 hosts (db,app / db,app / db): every engine first, then every host staged, the cluster on the db hosts, then each app host in turn', () => {
    const plan = buildPlan(input(THREE));
    const app = (host: string, migrate = false) =>
      ['datastores', ...(migrate ? ['migrate'] : []), 'backend', 'workers', 'monitoring', 'smoke'].map((id) => `${id}@${host}`);
    expect(ids(plan)).toEqual([...HERE, 'pull', 'cluster', ...app('db1', true), ...app('db2'), 'audit', 'unlock']);
    // Once db1 rolled, a failure on db2 rolls both back; before, only files changed.
    const policy = Object.fromEntries(plan.steps.filter((s) => s.host).map((s) => [`${s.id}@${s.host}`, s.onFailure]));
    expect(policy['datastores@db1']).toBe('restore');
    expect(policy['migrate@db1']).toBe('restore');
    expect(policy['datastores@db2']).toBe('rollback');
    expect(plan.steps.find((s) => s.id === 'cluster')?.onFailure).toBe('restore');
  });

  it("each host's commands reach its own engine (DOCKER_HOST=its engine=), its stack folder hosts/<name>/current, its bundle in the release", () => {
    const plan = buildPlan(input(THREE));
    const engines = plan.steps.find((s) => s.id === 'engines')?.lines ?? [];
    expect(engines.slice(0, 3)).toEqual([
      "DOCKER_HOST=ssh://deploy@db1.internal docker version --format '{{.Server.Version}}'   # host db1",
      "DOCKER_HOST=ssh://deploy@db2.internal:2222 docker version --format '{{.Server.Version}}'   # host db2",
      "DOCKER_HOST=ssh://deploy@db3.internal docker version --format '{{.Server.Version}}'   # host db3",
    ]);
    expect(engines[3]).toMatch(
      /at most 30s \(HEALTHMATE_ENGINE_TIMEOUT\); one that does not answer: exit 1 naming the host, the lock released, nothing changed on any host/,
    );
    const cluster = plan.steps.find((s) => s.id === 'cluster')?.lines ?? [];
    const up = (service: string) => cluster.filter((l) => l.endsWith(`up -d --no-deps ${service}   # ${l.split('# ')[1]}`) && !l.startsWith('#'));
    for (const service of ['etcd', 'postgres', 'pgbackrest']) {
      expect(up(service).map((l) => [l.split(' ')[0], l.match(/hosts\/(db\d)\/current/)?.[1], l.split('# ')[1]])).toEqual([
        ['DOCKER_HOST=ssh://deploy@db1.internal', 'db1', 'db1'],
        ['DOCKER_HOST=ssh://deploy@db2.internal:2222', 'db2', 'db2'],
        ['DOCKER_HOST=ssh://deploy@db3.internal', 'db3', 'db3'],
      ]);
    }
    // etcd everywhere before any wait; PostgreSQL only after etcd answers; pgbackrest last.
    const first = (service: string) => cluster.findIndex((l) => l.includes(`--no-deps ${service} `));
    expect(first('etcd')).toBeLessThan(cluster.findIndex((l) => l.startsWith('# wait until etcd')));
    expect(cluster.findIndex((l) => l.startsWith('# wait until etcd'))).toBeLessThan(first('postgres'));
    expect(first('postgres')).toBeLessThan(first('pgbackrest'));
    const pull = plan.steps.find((s) => s.id === 'pull')?.lines.join('\n') ?? '';
    expect(pull).toMatch(/releases\/20260101T000000Z-1\.0\.0\/db3 → \S+\/state\/deploy\/hosts\/db3\/current/);
    expect(pull).toContain('to deploy@db2.internal (tar over ssh)');
    // db3 runs no app: no step names it, and its pull builds PostgreSQL's image only.
    expect(plan.steps.some((s) => s.host === 'db3')).toBe(false);
    const db2 = plan.steps.filter((s) => s.host === 'db2').flatMap((s) => s.lines);
    expect(db2.filter((l) => !l.startsWith('#') && !l.startsWith('DOCKER_HOST=ssh://deploy@db2.internal:2222 '))).toEqual([]);
  });

  it("the lock, state.json and the audit log live on the inventory's first host, as db-cluster.ts keeps them", () => {
    const plan = buildPlan(input(THREE));
    for (const id of ['lock', 'audit', 'unlock'] as const)
      expect(plan.steps.find((s) => s.id === id)?.lines[0]).toMatch(/^# on the inventory's first host db1 \(deploy@db1\.internal\): /);
    expect(formatPlan(plan, { dryRun: true })).toMatch(/^deploy plan: prod \S+ \(release \S+\), 3 hosts \[dry run: steps 1-6 run read-only, nothing else\]/);
  });

  it('db + app on two hosts: the cluster on the db host, the rolling flow on the app host, the backup through the db host', () => {
    const plan = buildPlan(
      input({
        HOST_DATA: 'engine=ssh://deploy@10.0.0.11 roles=db address=10.0.0.11',
        HOST_WEB: 'engine=local roles=app address=10.0.0.21',
      }),
    );
    expect(ids(plan).slice(7)).toEqual([
      'pull',
      'cluster',
      'datastores@web',
      'migrate@web',
      'backend@web',
      'workers@web',
      'monitoring@web',
      'smoke@web',
      'audit',
      'unlock',
    ]);
    expect(plan.steps.find((s) => s.id === 'cluster')?.lines.filter((l) => !l.startsWith('#') && l.includes(' up -d '))).toHaveLength(3);
    expect(plan.steps.find((s) => s.id === 'backup')?.lines[0]).toMatch(
      /^DOCKER_HOST=ssh:\/\/deploy@10\.0\.0\.11 npx tsx scripts\/backup-db\.ts .*--compose --no-offsite {3}# through db host data$/,
    );
    // `local`: the caller's engine, so no DOCKER_HOST of its own; the app host's image build is not its business.
    const web = plan.steps.filter((s) => s.host === 'web').flatMap((s) => s.lines);
    expect(web.some((l) => l.includes('DOCKER_HOST='))).toBe(false);
    expect(plan.steps.find((s) => s.id === 'pull')?.lines.filter((l) => l.includes('build postgres'))).toHaveLength(1);
  });

  it('--set HOST_X=… reaches the scripts the deploy calls (a changed inventory renders and checks the same hosts)', () => {
    const overrides = passedOverrides({
      HOST_DB2: 'engine=ssh://deploy@db2b.internal roles=db,app address=10.0.0.22',
      BACKEND_TAG: '2.0.0',
      NOT_A_VARIABLE: 'x',
    });
    expect(overrides).toEqual({ HOST_DB2: 'engine=ssh://deploy@db2b.internal roles=db,app address=10.0.0.22', BACKEND_TAG: '2.0.0' });
    const argv = scriptArgv('render.ts', { ...input(THREE), overrides });
    expect(argv).toContain('HOST_DB2=engine=ssh://deploy@db2b.internal roles=db,app address=10.0.0.22');
    expect(argv).toContain('BACKEND_TAG=2.0.0');
  });
});

const member = (name: string, role: string, state = 'streaming'): MemberStatus => ({ name, host: name, role, state });

describe('postgresRollout: a PostgreSQL change rolls member by member', () => {
  const cluster = [member('db1', 'Leader', 'running'), member('db2', 'Sync Standby'), member('db3', 'Replica')];
  const hosts = ['db1', 'db2', 'db3'];

  it('replicas first (the async one, then the synchronous standby), then a switchover away from the leader, then the old leader', () => {
    expect(postgresRollout(hosts, cluster, new Set(hosts))).toEqual([
      { kind: 'recreate', host: 'db3' },
      { kind: 'recreate', host: 'db2' },
      { kind: 'switchover', from: 'db1' },
      { kind: 'recreate', host: 'db1' },
    ]);
  });

  it('an unchanged PostgreSQL is not touched: only started (a no-op on a running member)', () => {
    expect(postgresRollout(hosts, cluster, new Set())).toEqual(hosts.map((host) => ({ kind: 'start', host })));
  });

  it('only the leader changed: the switchover still comes before its restart', () => {
    expect(postgresRollout(hosts, cluster, new Set(['db1']))).toEqual([
      { kind: 'start', host: 'db2' },
      { kind: 'start', host: 'db3' },
      { kind: 'switchover', from: 'db1' },
      { kind: 'recreate', host: 'db1' },
    ]);
  });

  it('a one-member cluster has nothing to switch to: its leader is recreated in place', () => {
    expect(postgresRollout(['main'], [member('main', 'Leader', 'running')], new Set(['main']))).toEqual([{ kind: 'recreate', host: 'main' }]);
  });

  it('growing from one db host to three: the new hosts start (as replicas), then the changed leader switches over to one of them', () => {
    expect(postgresRollout(hosts, [member('db1', 'Leader', 'running')], new Set(['db1']))).toEqual([
      { kind: 'start', host: 'db2' },
      { kind: 'start', host: 'db3' },
      { kind: 'switchover', from: 'db1' },
      { kind: 'recreate', host: 'db1' },
    ]);
  });

  it('a first deploy (no member answers) and a new db host: started, never recreated', () => {
    expect(postgresRollout(hosts, undefined, new Set(hosts))).toEqual(hosts.map((host) => ({ kind: 'start', host })));
    const growing = postgresRollout([...hosts, 'db4'], cluster, new Set(['db4']));
    expect(growing.filter((a) => a.kind !== 'start')).toEqual([]);
  });
});
