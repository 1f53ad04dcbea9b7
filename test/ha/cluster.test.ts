import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCaCertificate, buildServerCertificate, generateRsaKey } from '../../scripts/lib/certs/x509.js';
import { runClusterAction } from '../../scripts/lib/cluster/run.js';
import { formatStatus, readStatus } from '../../scripts/lib/cluster/status.js';
import { lastAudit } from '../../scripts/lib/deploy/audit.js';
import { deployStore } from '../../scripts/lib/deploy/store.js';
import { readExporterMetrics } from '../../scripts/lib/monitoring/catalog.js';
import { statePaths } from '../../scripts/lib/paths.js';
import { WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { REPO } from '../helpers/run.js';
import {
  alive,
  api,
  clusterState,
  etcdctl as etcdctlAs,
  etcdctlAsync,
  FAST_TIMING,
  leaderOf,
  type Member,
  memberCommand,
  memberEtcdCert,
  type NativeCluster,
  nativeCluster,
  nativeRunner,
  POLL_MS,
  postmasterPid,
  psql,
  replaceHost,
  start,
  startEtcd,
  startPatroni,
  tearDownAfterAll,
  waitForRoles,
} from './native.js';
import { longestPause, lostRows, multiHostDsn, PROBE_TABLE, startWriter } from './writer.js';

/**
 * Three members on 127.0.0.11-13 from the configs rendered for a three-host
 * inventory: etcd ×3 and Patroni ×3 with TLS from a CA made by
 * generate-certs.ts, PostgreSQL 15, HAProxy from the rendered haproxy.cfg.
 * The scenarios run in order on one cluster. Timings printed, never asserted.
 */
const HOSTS = [
  { name: 'db1', address: '127.0.0.11', listen: '127.0.0.11' },
  { name: 'db2', address: '127.0.0.12', listen: '127.0.0.12' },
  { name: 'db3', address: '127.0.0.13', listen: '127.0.0.13' },
];
const ADDRESSES = HOSTS.map((h) => h.address);

let cluster: NativeCluster;
const figures: Record<string, string> = {};

const member = (name: string | undefined): Member => cluster.members.find((m) => m.name === name) as Member;
const etcdctl = (m: Member, cert: { cert: string; key: string }, args: string[]) => etcdctlAs(cluster, m, args, cert);
const etcdCert = (m: Member) => memberEtcdCert(cluster, m);

beforeAll(async () => {
  cluster = await nativeCluster('ha', HOSTS, FAST_TIMING);
  for (const m of cluster.members) startEtcd(m);
  for (const m of cluster.members)
    await waitFor(`etcd on ${m.listen}`, () => etcdctl(m, etcdCert(m), ['endpoint', 'health']).status === 0, WAIT_BUDGET_MS, POLL_MS);
});

tearDownAfterAll(
  () => cluster,
  () => {
    console.log(`HA figures (ttl ${FAST_TIMING.PATRONI_TTL}s, loop_wait ${FAST_TIMING.PATRONI_LOOP_WAIT}s): ${JSON.stringify(figures)}`);
  },
);

describe('a three-member cluster from the rendered configs', () => {
  it('every rendered patroni.yml passes the real patroni --validate-config', () => {
    for (const m of cluster.members) {
      // Through run.sh, as in the container: the passwords come from the secret files.
      const result = memberCommand(m, [join(m.dir, 'patroni', 'run.sh'), 'patroni', '--validate-config', m.patroniConfig]);
      expect(result.stdout + result.stderr, m.name).toBe('');
      expect(result.status, m.name).toBe(0);
    }
    // Not a rubber stamp: a config without its etcd hosts is refused.
    const broken = join(cluster.root, 'broken.yml');
    writeFileSync(broken, readFileSync(member('db1').patroniConfig, 'utf8').replace(/^ {2}hosts: .*$/m, ''));
    const refused = memberCommand(member('db1'), [join(member('db1').dir, 'patroni', 'run.sh'), 'patroni', '--validate-config', broken]);
    expect(refused.status).not.toBe(0);
  });

  it.concurrent('bootstraps: one leader, one synchronous standby, one replica, streaming over TLS; the app database exists', async ({ expect }) => {
    const began = Date.now();
    for (const m of cluster.members) startPatroni(m);
    const roles = await waitForRoles(cluster, 'leader + sync standby + replica', (ms) => {
      const running = ms.filter((m) => m.state === 'running' || m.state === 'streaming');
      return running.length === 3 && ms.filter((m) => m.role === 'leader').length === 1 && ms.some((m) => m.role === 'sync_standby');
    });
    figures.bootstrapSeconds = ((Date.now() - began) / 1000).toFixed(1);
    const leader = member(leaderOf(roles));
    expect(psql(leader.listen, 5432, "SELECT datname FROM pg_database WHERE datname = 'healthmate'").out).toBe('healthmate');
    expect(psql(leader.listen, 5432, "SELECT extname FROM pg_extension WHERE extname = 'pg_stat_statements'").out).toBe('pg_stat_statements');
    await waitFor(
      'two replicas streaming over TLS, one synchronously',
      () =>
        psql(leader.listen, 5432, 'SELECT sync_state, ssl FROM pg_stat_replication JOIN pg_stat_ssl USING (pid) ORDER BY sync_state').out === 'async|t\nsync|t',
      WAIT_BUDGET_MS,
      POLL_MS,
    );
    expect(psql(leader.listen, 5432, PROBE_TABLE).status).toBe(0);
  });

  // Beside the bootstrap (it.concurrent): etcdctl retries the refused handshake until its deadline (5 s) while Patroni bootstraps.
  it.concurrent('etcd refuses a client certificate from another CA', async ({ expect }) => {
    const m = member('db1');
    expect(etcdctl(m, etcdCert(m), ['endpoint', 'health']).status).toBe(0);
    const caKeys = await generateRsaKey(2048);
    const otherCa = buildCaCertificate(caKeys, 'Another CA', 30);
    const keys = await generateRsaKey(2048);
    const cert = buildServerCertificate({
      keys,
      commonName: 'intruder',
      sans: [{ type: 'IP', value: '127.0.0.1' }],
      days: 30,
      ca: { certPem: otherCa, privateKeyPem: caKeys.privateKeyPem },
      profile: 'peer',
    });
    const other = { cert: join(cluster.root, 'other.pem'), key: join(cluster.root, 'other.key') };
    writeFileSync(other.cert, cert);
    writeFileSync(other.key, keys.privateKeyPem, { mode: 0o600 });
    const refused = await etcdctlAsync(cluster, m, ['get', '--prefix', '/service'], other);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/bad certificate|certificate required|unknown certificate authority|context deadline exceeded/);
  });

  it('HAProxy from the rendered haproxy.cfg sends writes to the leader and reads to a replica', async () => {
    start(['haproxy', '-W', '-db', '-f', cluster.haproxyConfig], cluster.root, 'haproxy');
    const leader = leaderOf(await clusterState(cluster));
    const through = (port: number) => psql('127.0.0.1', port, 'SELECT pg_is_in_recovery(), inet_server_addr()').out;
    await waitFor('HAProxy to route writes to the leader', () => through(cluster.ports.haproxyWrite) === `f|${member(leader).listen}`, WAIT_BUDGET_MS, POLL_MS);
    await waitFor('HAProxy to route reads to a replica', () => /^t\|127\.0\.0\.1[123]$/.test(through(cluster.ports.haproxyRead)), WAIT_BUDGET_MS, POLL_MS);
    expect(through(cluster.ports.haproxyRead)).not.toBe(`t|${member(leader).listen}`);
  });

  it('db-cluster status reports every member and etcd member per host, through the planned commands', async () => {
    const status = await readStatus(cluster.env, nativeRunner(cluster));
    const text = formatStatus(cluster.env, status).join('\n');
    const leader = leaderOf(await clusterState(cluster)) as string;
    expect(text).toMatch(new RegExp(`^cluster healthmate: 3 members, leader ${leader}, sync standby db\\d; etcd 3/3 healthy \\(quorum 2\\)$`, 'm'));
    expect(text).toMatch(new RegExp(`^  ${leader} \\(127\\.0\\.0\\.1\\d\\): patroni Leader, running, timeline 1; etcd healthy`, 'm'));
    expect(text.match(/^ {2}db\d .*Sync Standby, (running|streaming), timeline 1, lag 0 MB; etcd healthy/gm)).toHaveLength(1);
    expect(status.etcd.filter((e) => e.leader)).toHaveLength(1);
  });

  it('switchover through db-cluster: the sync standby leads, no acknowledged row is lost, HAProxy follows, the audit log says so', async () => {
    const before = await clusterState(cluster);
    const old = leaderOf(before) as string;
    const candidate = before.find((m) => m.role === 'sync_standby')?.name as string;
    const writer = startWriter(multiHostDsn(ADDRESSES, 5432), join(cluster.root, 'switchover.log'));
    await waitFor('the writer to commit', () => writer.read().acked.length >= 10, WAIT_BUDGET_MS, 200);
    const began = Date.now();
    const store = deployStore({ kind: 'local' }, statePaths(cluster.env).deploy);
    const plan = await runClusterAction(cluster.env, { kind: 'switchover' }, { run: nativeRunner(cluster), store, dryRun: false, pollMs: 500 });
    expect(plan.command.host.name).toBe(old);
    await waitForRoles(
      cluster,
      `${candidate} to lead`,
      (ms) => leaderOf(ms) === candidate && ms.filter((m) => m.state === 'running' || m.state === 'streaming').length === 3,
    );
    await waitFor('writes after the switchover', () => writer.read().acked.some((a) => a.at > began + 1000), WAIT_BUDGET_MS, 200);
    const log = await writer.stop();
    figures.switchoverPauseSeconds = (longestPause(log, began - 1000) / 1000).toFixed(2);
    expect(lostRows(log, member(candidate).listen)).toEqual([]);
    await waitFor(
      'HAProxy to route writes to the new leader',
      () => psql('127.0.0.1', cluster.ports.haproxyWrite, 'SELECT inet_server_addr()').out === member(candidate).listen,
      WAIT_BUDGET_MS,
      POLL_MS,
    );
    expect(lastAudit(store, 1)[0]).toMatchObject({ action: 'switchover', result: 'success', leaderBefore: old, leaderAfter: candidate });
    expect(existsSync(join(statePaths(cluster.env).deploy, 'lock.json'))).toBe(false);
  });

  it('failover on kill -9 of the leader (Patroni and postmaster): writes resume on the sync standby, 0 acknowledged rows lost', async () => {
    const before = await clusterState(cluster);
    const old = member(leaderOf(before));
    const writer = startWriter(multiHostDsn(ADDRESSES, 5432), join(cluster.root, 'failover.log'));
    await waitFor('the writer to commit', () => writer.read().acked.length >= 20, WAIT_BUDGET_MS, 200);
    const postmaster = postmasterPid(old);
    const killedAt = Date.now();
    process.kill(old.patroni?.pid as number, 'SIGKILL');
    process.kill(postmaster as number, 'SIGKILL');
    const after = await waitForRoles(cluster, 'a new leader', (ms) => {
      const leader = leaderOf(ms);
      return leader !== undefined && leader !== old.name;
    });
    await waitFor('a write on the new leader', () => writer.read().acked.some((a) => a.at > killedAt), WAIT_BUDGET_MS, 200);
    await waitFor('more writes', () => writer.read().acked.filter((a) => a.at > killedAt).length >= 10, WAIT_BUDGET_MS, 200);
    const log = await writer.stop();
    // A commit acknowledged while the kill landed is no recovery: count from the first failure after it.
    const firstError = log.errors.find((e) => e.at >= killedAt);
    const first = log.acked.find((a) => a.at > (firstError?.at ?? killedAt)) as { at: number };
    figures.failoverSeconds = ((first.at - killedAt) / 1000).toFixed(2);
    figures.failoverAcked = String(log.acked.length);
    figures.failoverClientErrors = String(log.errors.length);
    const lost = lostRows(log, member(leaderOf(after)).listen);
    figures.failoverLost = String(lost.length);
    expect(alive(postmaster)).toBe(false);
    expect(lost).toEqual([]);
  });

  it('the old leader rejoins as a replica of the new timeline', async () => {
    const state = await clusterState(cluster);
    const leader = leaderOf(state) as string;
    const old = cluster.members.find(
      (m) => m.name !== leader && !state.some((s) => s.name === m.name && (s.state === 'running' || s.state === 'streaming')),
    ) as Member;
    expect(old).toBeDefined();
    startPatroni(old);
    // A rejoining member first runs on its old timeline, then follows the leader's: wait for that.
    const rejoined = await waitForRoles(
      cluster,
      `${old.name} to rejoin on the leader's timeline`,
      (ms) =>
        ms.some((m) => m.name === old.name && m.role !== 'leader' && (m.state === 'running' || m.state === 'streaming')) &&
        new Set(ms.map((m) => m.timeline)).size === 1,
    );
    const timelines = new Set(rejoined.map((m) => m.timeline));
    expect(timelines.size).toBe(1);
    // Patroni compared the old leader's timeline with the new one (use_pg_rewind); when the killed
    // leader had WAL its successor never saw (the usual case under writes), pg_rewind ran and succeeded.
    const log = readFileSync(join(old.dir, 'patroni.log'), 'utf8');
    expect(log).toMatch(/Local timeline=\d+ lsn=/);
    figures.rewound = String(/running pg_rewind from/.test(log));
    if (figures.rewound === 'true') expect(log).toMatch(/pg_rewind exit code=0/);
    expect((await api(cluster, old, '/replica')).status).toBe(200);
  });

  it('reinit through db-cluster rebuilds a replica from scratch, and it streams again', async () => {
    const state = await clusterState(cluster);
    const replica = state.find((m) => m.role === 'replica') as { name: string };
    const store = deployStore({ kind: 'local' }, statePaths(cluster.env).deploy);
    await runClusterAction(cluster.env, { kind: 'reinit', member: replica.name }, { run: nativeRunner(cluster), store, dryRun: false, pollMs: 500 });
    expect(readFileSync(join(member(replica.name).dir, 'patroni.log'), 'utf8')).toMatch(/reinitialize|Reinitialization/i);
    await waitForRoles(cluster, `${replica.name} streaming again`, (ms) =>
      ms.some((m) => m.name === replica.name && (m.state === 'running' || m.state === 'streaming')),
    );
    expect(lastAudit(store, 1)[0]).toMatchObject({ action: 'reinit', result: 'success', member: replica.name });
  });

  it('a dead db host replaced: etcd member remove and add, rendered again with ETCD_INITIAL_CLUSTER_STATE=existing, it rejoins empty as a replica', async () => {
    const leader = leaderOf(await clusterState(cluster)) as string;
    const dead = member([...cluster.members].reverse().find((m) => m.name !== leader)?.name);
    // The host dies: every process killed, its disks gone.
    const postmaster = postmasterPid(dead);
    const pids = [dead.patroni?.pid, postmaster, dead.etcd?.pid];
    for (const pid of pids) if (alive(pid)) process.kill(pid as number, 'SIGKILL');
    // Gone before the new machine starts: a postmaster that has not exited yet (a busy box) still holds its
    // socket's lock file, and the replacement's first start fails on it (then recovers ahead of the leader's WAL).
    await waitFor(`${dead.name}'s processes to exit`, () => !pids.some(alive), WAIT_BUDGET_MS, 100);
    const survivor = member(leader);
    // On a surviving member: forget the dead etcd member, announce its replacement (docs/ha.md).
    const list = etcdctl(survivor, etcdCert(survivor), ['member', 'list']);
    const id = list.stdout
      .split('\n')
      .find((l) => l.split(', ')[2] === dead.name)
      ?.split(', ')[0] as string;
    expect(id).toMatch(/^[0-9a-f]+$/);
    // etcd refuses a reconfiguration while it has not yet noticed which members are connected: retried, like an operator would.
    let removal: { status: number | null; stderr: string } = { status: 1, stderr: '' };
    await waitFor(
      `etcd to remove member ${dead.name}`,
      () => {
        removal = etcdctl(survivor, etcdCert(survivor), ['member', 'remove', id]);
        return removal.status === 0;
      },
      WAIT_BUDGET_MS,
      POLL_MS,
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${removal.stderr}`);
    });
    const added = etcdctl(survivor, etcdCert(survivor), ['member', 'add', dead.name, `--peer-urls=https://${dead.listen}:${cluster.ports.etcdPeer}`]);
    expect(added.status, added.stderr).toBe(0);
    replaceHost(cluster, dead.name);
    expect(readFileSync(dead.etcdConfig, 'utf8')).toMatch(/^initial-cluster-state: 'existing'$/m);
    expect(
      readFileSync(dead.etcdConfig, 'utf8')
        .match(/^initial-cluster: '([^']*)'$/m)?.[1]
        ?.split(','),
    ).toHaveLength(3);
    startEtcd(dead);
    startPatroni(dead);
    // Its new Patroni answers as a replica (the dead one's key in etcd says "running" until its TTL ends), and the leader streams to two.
    await waitFor(`${dead.name} back as a replica`, async () => (await api(cluster, dead, '/replica')).status === 200, WAIT_BUDGET_MS, POLL_MS);
    await waitFor(
      'the leader streaming to both replicas',
      () => psql(survivor.listen, 5432, 'SELECT count(*) FROM pg_stat_replication').out === '2',
      WAIT_BUDGET_MS,
      POLL_MS,
    );
    const status = await readStatus(cluster.env, nativeRunner(cluster));
    expect(status.etcd.map((e) => e.healthy)).toEqual([true, true, true]);
  });

  it('Patroni, etcd and HAProxy expose every metric name the alerts and dashboards use (exporter-metrics.yml)', async () => {
    const expected = readExporterMetrics(join(REPO, 'monitoring'));
    const names = (text: string) =>
      new Set(
        text
          .split('\n')
          .filter((l) => l && !l.startsWith('#'))
          .map((l) => l.split(/[{ ]/)[0] as string),
      );
    const leader = member(leaderOf(await clusterState(cluster)));
    const scraped: Record<string, Set<string>> = {
      patroni: names((await api(cluster, leader, '/metrics')).body),
      etcd: names(await (await fetch(`http://${leader.listen}:${cluster.ports.etcdMetrics}/metrics`)).text()),
      haproxy: names(await (await fetch(`http://127.0.0.1:${cluster.ports.haproxyStats}/metrics`)).text()),
    };
    for (const [source, have] of Object.entries(scraped)) {
      expect(expected[source]?.length, source).toBeGreaterThan(0);
      expect(
        (expected[source] ?? []).filter((n) => !have.has(n)),
        `${source} does not expose these`,
      ).toEqual([]);
    }
    // HAProxy's /health (the container's healthcheck) answers 200 while a leader takes writes.
    expect(await (await fetch(`http://127.0.0.1:${cluster.ports.haproxyStats}/health`)).status).toBe(200);
  });
});
