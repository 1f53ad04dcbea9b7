import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readStatus } from '../../scripts/lib/cluster/status.js';
import { WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import {
  addHosts,
  api,
  etcdctl,
  FAST_TIMING,
  type Member,
  memberCommand,
  type NativeCluster,
  nativeCluster,
  nativeRunner,
  POLL_MS,
  psql,
  startEtcd,
  startPatroni,
  tearDownAfterAll,
  waitForRoles,
} from './native.js';
import { longestPause, lostRows, multiHostDsn, PROBE_TABLE, startWriter } from './writer.js';

/**
 * One db host with an address grows to three while a client writes (docs/ha.md,
 * "From one db host to three"): the new hosts' HOST_ lines appended, their
 * configs rendered with ETCD_INITIAL_CLUSTER_STATE=existing, each etcd member
 * added as a learner (no quorum lost meanwhile) and promoted once in sync.
 */
const ADDRESSES = ['127.0.0.31', '127.0.0.32', '127.0.0.33'];
let cluster: NativeCluster;

beforeAll(async () => {
  cluster = await nativeCluster('hagrow', [{ name: 'db1', address: '127.0.0.31', listen: '127.0.0.31' }], FAST_TIMING);
  const [db1] = cluster.members as [Member];
  startEtcd(db1);
  await waitFor('etcd on db1', () => etcdctl(cluster, db1, ['endpoint', 'health']).status === 0, WAIT_BUDGET_MS, POLL_MS);
  startPatroni(db1);
  await waitForRoles(cluster, 'db1 to lead', (ms) => ms[0]?.role === 'leader' && ms[0]?.state === 'running');
  await waitFor('the app database', () => psql(db1.listen, 5432, PROBE_TABLE).status === 0, WAIT_BUDGET_MS, POLL_MS);
});

tearDownAfterAll(() => cluster);

describe('growing from one db host to three', () => {
  it('adds two members while a client writes: etcd learners promoted one at a time, both replicate, no commit lost', async () => {
    const [db1] = cluster.members as [Member];
    const writer = startWriter(multiHostDsn(ADDRESSES, 5432), join(cluster.root, 'grow.log'));
    await waitFor('the writer to commit', () => writer.read().acked.length >= 10, WAIT_BUDGET_MS, 200);
    const began = Date.now();
    const added = await addHosts(cluster, [
      { name: 'db2', address: '127.0.0.32', listen: '127.0.0.32' },
      { name: 'db3', address: '127.0.0.33', listen: '127.0.0.33' },
    ]);
    // Each joining member's etcd lists the members before it and itself.
    expect(
      added.map(
        (m) =>
          readFileSync(m.etcdConfig, 'utf8')
            .match(/^initial-cluster: '([^']*)'$/m)?.[1]
            ?.split(',').length,
      ),
    ).toEqual([2, 3]);
    for (const member of added) {
      // etcd refuses a new member ("unhealthy cluster") until every member has been connected for 5 s: retried, as docs/ha.md says.
      await waitFor(
        `etcd to add learner ${member.name}`,
        () => etcdctl(cluster, db1, ['member', 'add', member.name, '--learner', `--peer-urls=https://${member.listen}:${cluster.ports.etcdPeer}`]).status === 0,
        WAIT_BUDGET_MS,
        POLL_MS,
      );
      startEtcd(member);
      // A learner is promoted once its log caught up with the leader's (etcd refuses before).
      const id = () =>
        etcdctl(cluster, db1, ['member', 'list'])
          .stdout.split('\n')
          .find((l) => l.split(', ')[2] === member.name)
          ?.split(', ')[0] as string;
      await waitFor(`etcd to promote learner ${member.name}`, () => etcdctl(cluster, db1, ['member', 'promote', id()]).status === 0, WAIT_BUDGET_MS, POLL_MS);
    }
    // Patroni's validator dials every etcd host of the rendered config: all three answer now.
    for (const member of added) {
      const valid = memberCommand(member, [join(member.dir, 'patroni', 'run.sh'), 'patroni', '--validate-config', member.patroniConfig]);
      expect(valid.status, valid.stdout + valid.stderr).toBe(0);
      startPatroni(member);
    }
    for (const member of added)
      await waitFor(`${member.name} to replicate`, async () => (await api(cluster, member, '/replica')).status === 200, 240_000, POLL_MS);
    await waitForRoles(cluster, 'db1 leading two replicas, one synchronous', (ms) => ms.length === 3 && ms.some((m) => m.role === 'sync_standby'));
    await waitFor('more writes', () => writer.read().acked.filter((a) => a.at > Date.now() - 2000).length >= 5, WAIT_BUDGET_MS, 200);
    const log = await writer.stop();
    console.log(
      `growing to three hosts: longest pause between two commits ${(longestPause(log, began) / 1000).toFixed(2)} s, ${log.errors.length} client errors`,
    );
    expect(lostRows(log, db1.listen)).toEqual([]);
    // The leader never lost etcd's quorum (learners do not vote): no write failed.
    expect(log.errors).toEqual([]);
    const status = await readStatus(cluster.env, nativeRunner(cluster));
    expect(status.etcd.map((e) => e.healthy)).toEqual([true, true, true]);
    // Three voting members (no learner left).
    expect(etcdctl(cluster, db1, ['member', 'list']).stdout.match(/, started, .*, false$/gm)).toHaveLength(3);
  });
});
