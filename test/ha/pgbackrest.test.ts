import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { SCRIPT_TIMEOUT_MS } from '../helpers/run.js';
import { needTool } from '../helpers/tools.js';
import {
  alive,
  api,
  FAST_TIMING,
  leaderOf,
  type Member,
  memberCommand,
  type NativeCluster,
  nativeCluster,
  POLL_MS,
  postmasterPid,
  psql,
  startEtcd,
  startPatroni,
  tearDownAfterAll,
  waitForRoles,
} from './native.js';

/**
 * pgBackRest with the cluster, natively: three members from the rendered configs, each
 * archiving with the shipped archive_command and fetching WAL with the rendered
 * restore_command into one repository folder on this machine (pgBackRest's TLS between
 * hosts is test/backup/pgbackrest.test.ts's subject; here every member reads a local
 * repository, so only the cluster's side is in play). Only the leader archives, new
 * replicas come from the repository (Patroni's create_replica_methods), a backup naming
 * every member finds the leader itself, and after every member is lost the data restored
 * from the repository is taken over by Patroni with a fresh etcd: the rebuild path.
 */
const STANZA = 'healthmate';
let cluster: NativeCluster;
let repoDir: string;

const member = (name: string | undefined): Member => cluster.members.find((m) => m.name === name) as Member;
const patroniLog = (m: Member) => readFileSync(join(m.dir, 'patroni.log'), 'utf8');

/** The database side's pgBackRest config of one member: its data folder and socket, the shared repository. */
function memberConfig(m: Member): string {
  return [
    '[global]',
    `repo1-path=${repoDir}`,
    `log-path=${join(m.dir, 'pgbackrest-log')}`,
    `lock-path=${join(m.dir, 'pgbackrest-lock')}`,
    'log-level-console=warn',
    'start-fast=y',
    `[${STANZA}]`,
    `pg1-path=${m.dataDir}`,
    `pg1-socket-path=${m.socketDir}`,
    'pg1-port=5432',
    'pg1-user=healthmate_user',
    '',
  ].join('\n');
}

/**
 * The repository side's config: every member, as the repository host's pgbackrest.conf
 * names them (pg1, pg2, pg3): pgBackRest asks each which one is the primary.
 */
function everyMemberConfig(): string {
  const lines = ['[global]', `repo1-path=${repoDir}`, `log-path=${join(cluster.root, 'pgbackrest-log')}`, `lock-path=${join(cluster.root, 'pgbackrest-lock')}`];
  lines.push('log-level-console=warn', 'start-fast=y', 'backup-standby=y', `[${STANZA}]`);
  cluster.members.forEach((m, i) => {
    lines.push(`pg${i + 1}-path=${m.dataDir}`, `pg${i + 1}-socket-path=${m.socketDir}`, `pg${i + 1}-port=5432`, `pg${i + 1}-user=healthmate_user`);
  });
  return `${lines.join('\n')}\n`;
}

function pgbackrest(config: string, args: string[]) {
  const result = spawnSync('runuser', ['-u', 'postgres', '--', 'env', `PGBACKREST_CONFIG=${config}`, 'pgbackrest', `--stanza=${STANZA}`, ...args], {
    encoding: 'utf8',
    timeout: SCRIPT_TIMEOUT_MS,
  });
  return { status: result.status ?? 1, out: `${result.stdout}${result.stderr}` };
}

const archived = (m: Member) => psql(m.listen, 5432, 'SELECT archived_count FROM pg_stat_archiver').out;

/** kill -9 of a member's Patroni and postmaster: the host is gone, nothing shuts down cleanly. */
function killMember(m: Member): void {
  const pid = postmasterPid(m);
  for (const p of [m.patroni?.pid, pid]) {
    if (!p) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

beforeAll(async () => {
  needTool('pgbackrest');
  cluster = await nativeCluster(
    'hapgb',
    [
      { name: 'db1', address: '127.0.0.51', listen: '127.0.0.51' },
      { name: 'db2', address: '127.0.0.52', listen: '127.0.0.52' },
      { name: 'db3', address: '127.0.0.53', listen: '127.0.0.53' },
    ],
    { ...FAST_TIMING, PGBACKREST_STANZA: STANZA },
  );
  repoDir = join(cluster.root, 'repo');
  const pg = {
    uid: Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout),
    gid: Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout),
  };
  for (const dir of [repoDir, join(cluster.root, 'pgbackrest-log'), join(cluster.root, 'pgbackrest-lock')]) {
    mkdirSync(dir, { mode: 0o750 });
    chownSync(dir, pg.uid, pg.gid);
  }
  for (const m of cluster.members) {
    for (const sub of ['pgbackrest-log', 'pgbackrest-lock']) {
      mkdirSync(join(m.dir, sub), { mode: 0o750 });
      chownSync(join(m.dir, sub), pg.uid, pg.gid);
    }
    const config = join(m.dir, 'pgbackrest.conf');
    writeFileSync(config, memberConfig(m), { mode: 0o644 });
    // archive-push, archive-get and the replica method read it, as the container's PGBACKREST_CONFIG.
    m.env.PGBACKREST_CONFIG = config;
  }
  writeFileSync(join(cluster.root, 'pgbackrest-all.conf'), everyMemberConfig(), { mode: 0o644 });
  for (const m of cluster.members) startEtcd(m);
});

tearDownAfterAll(() => cluster);

describe('pgBackRest with the cluster', () => {
  it('every member carries the same archive and restore settings (the rendered patroni.yml)', () => {
    const settings = cluster.members.map((m) => {
      const config = parseYaml(readFileSync(m.patroniConfig, 'utf8')) as {
        postgresql: { parameters: Record<string, unknown>; recovery_conf: Record<string, string>; create_replica_methods: string[] };
      };
      const { archive_mode, archive_command, archive_timeout } = config.postgresql.parameters;
      return { archive_mode, archive_command, archive_timeout, recovery: config.postgresql.recovery_conf, methods: config.postgresql.create_replica_methods };
    });
    expect(new Set(settings.map((s) => JSON.stringify(s))).size).toBe(1);
    expect(settings[0]).toEqual({
      archive_mode: 'on',
      archive_command: `pgbackrest --stanza=${STANZA} archive-push %p`,
      archive_timeout: 60,
      recovery: { restore_command: `pgbackrest --stanza=${STANZA} archive-get %f "%p"` },
      methods: ['pgbackrest', 'basebackup'],
    });
  });

  it('the first member bootstraps and archives; a full backup goes to the repository', async () => {
    startPatroni(member('db1'));
    await waitForRoles(cluster, 'db1 to lead', (ms) => ms.length === 1 && ms[0]?.role === 'leader' && ms[0]?.state === 'running');
    const created = pgbackrest(join(member('db1').dir, 'pgbackrest.conf'), ['stanza-create']);
    expect(created.status, created.out).toBe(0);
    expect(psql(member('db1').listen, 5432, 'CREATE TABLE rows_before (id int); INSERT INTO rows_before SELECT generate_series(1, 100)').status).toBe(0);
    const backup = pgbackrest(join(member('db1').dir, 'pgbackrest.conf'), ['backup', '--type=full']);
    expect(backup.status, backup.out).toBe(0);
  });

  it('new members are restored from the repository (create_replica_methods: pgbackrest), not copied from the leader', async () => {
    // Written after the backup: the replicas must fetch it as WAL from the archive or stream it.
    expect(psql(member('db1').listen, 5432, 'CREATE TABLE rows_after (id int); INSERT INTO rows_after SELECT generate_series(1, 50)').status).toBe(0);
    startPatroni(member('db2'));
    startPatroni(member('db3'));
    await waitForRoles(cluster, 'leader + sync standby + replica', (ms) => ms.filter((m) => m.state === 'running' || m.state === 'streaming').length === 3);
    for (const name of ['db2', 'db3']) {
      expect(patroniLog(member(name))).toMatch(/replica has been created using pgbackrest/);
      expect(patroniLog(member(name))).not.toMatch(/replica has been created using basebackup/);
      await waitFor(
        `${name} to hold every row`,
        () => psql(member(name).listen, 5432, 'SELECT count(*) FROM rows_after').out === '50',
        WAIT_BUDGET_MS,
        POLL_MS,
      );
    }
  });

  it('only the leader archives; the replicas run the same archive_mode and archive nothing', async () => {
    expect(psql(member('db1').listen, 5432, 'SELECT pg_switch_wal()').status).toBe(0);
    await waitFor('the leader to archive the switched segment', () => Number(archived(member('db1'))) > 0, WAIT_BUDGET_MS, POLL_MS);
    for (const name of ['db2', 'db3']) {
      expect(psql(member(name).listen, 5432, 'SHOW archive_mode').out).toBe('on');
      expect(archived(member(name))).toBe('0');
    }
  });

  it('a backup naming every member finds the leader itself, also after a switchover', async () => {
    const all = join(cluster.root, 'pgbackrest-all.conf');
    const first = pgbackrest(all, ['backup', '--type=diff']);
    expect(first.status, first.out).toBe(0);
    const candidate = (await waitForRoles(cluster, 'a sync standby', (ms) => ms.some((m) => m.role === 'sync_standby'))).find((m) => m.role === 'sync_standby')
      ?.name as string;
    const switched = memberCommand(member('db1'), [
      join(member('db1').dir, 'patroni', 'run.sh'),
      'patronictl',
      '-c',
      member('db1').patroniConfig,
      'switchover',
      '--leader',
      'db1',
      '--candidate',
      candidate,
      '--force',
    ]);
    expect(switched.status, switched.stdout + switched.stderr).toBe(0);
    await waitForRoles(
      cluster,
      `${candidate} to lead`,
      (ms) => leaderOf(ms) === candidate && ms.filter((m) => m.state === 'running' || m.state === 'streaming').length === 3,
    );
    const second = pgbackrest(all, ['backup', '--type=diff']);
    expect(second.status, second.out).toBe(0);
    const info = JSON.parse(pgbackrest(all, ['info', '--output=json']).out) as { backup: { type: string }[] }[];
    expect(info[0]?.backup.map((b) => b.type)).toEqual(['full', 'diff', 'diff']);
  });

  it('every member lost: the restored data is taken over by Patroni with a fresh etcd, as a leader holding every archived row', async () => {
    const leader = member(leaderOf(await waitForRoles(cluster, 'a leader', (ms) => leaderOf(ms) !== undefined)));
    expect(
      psql(leader.listen, 5432, 'CREATE TABLE rows_last (id int); INSERT INTO rows_last SELECT generate_series(1, 25); SELECT pg_switch_wal()').status,
    ).toBe(0);
    await waitFor(
      'the segment holding rows_last archived',
      () => {
        const check = pgbackrest(join(leader.dir, 'pgbackrest.conf'), ['check']);
        return check.status === 0;
      },
      WAIT_BUDGET_MS,
      1_000,
    );
    for (const m of cluster.members) {
      killMember(m);
      m.etcd?.kill('SIGKILL');
    }
    await waitFor(
      'every process gone',
      () => cluster.members.every((m) => !alive(postmasterPid(m)) && (m.etcd?.exitCode !== null || m.etcd?.signalCode !== null)),
      WAIT_BUDGET_MS,
      200,
    );
    for (const m of cluster.members) {
      for (const sub of ['data', 'etcd-data']) rmSync(join(m.dir, sub), { recursive: true, force: true });
      mkdirSync(join(m.dir, 'etcd-data'));
    }
    // A fresh etcd, as on new hosts.
    for (const m of cluster.members) startEtcd(m);
    const db1 = member('db1');
    mkdirSync(db1.dataDir, { mode: 0o700 });
    chownSync(
      db1.dataDir,
      Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout),
      Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout),
    );
    const restored = pgbackrest(join(db1.dir, 'pgbackrest.conf'), ['restore', '--type=default']);
    expect(restored.status, restored.out).toBe(0);
    const began = Date.now();
    const logBefore = patroniLog(db1).length;
    startPatroni(db1);
    await waitForRoles(cluster, 'db1 to lead the restored data', (ms) => leaderOf(ms) === 'db1', 240_000);
    console.log(
      `takeover of the restored data: leader after ${((Date.now() - began) / 1000).toFixed(1)} s; Patroni said:\n${patroniLog(db1)
        .slice(logBefore)
        .split('\n')
        .filter((l) => /INFO: (?!no action)|WARNING|ERROR/.test(l))
        .slice(0, 30)
        .join('\n')}`,
    );
    expect((await api(cluster, db1, '/primary')).status).toBe(200);
    expect(psql(db1.listen, 5432, 'SELECT count(*) FROM rows_last').out).toBe('25');
    // Patroni names the leader as it asks PostgreSQL to promote; writes are taken once recovery has ended
    // (a stressed run wrote in between: read-only), which rebuild-db-host.ts waits for too.
    await waitFor('db1 out of recovery', () => psql(db1.listen, 5432, 'SELECT pg_is_in_recovery()').out === 'f', WAIT_BUDGET_MS, 250);
    expect(psql(db1.listen, 5432, 'CREATE TABLE rows_rebuilt (id int)').status).toBe(0);
  });
});
