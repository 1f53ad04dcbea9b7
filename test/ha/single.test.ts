import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { api, FAST_TIMING, memberCommand, type NativeCluster, nativeCluster, psql, startEtcd, startPatroni, tearDownAfterAll, waitForRoles } from './native.js';

/**
 * The one-host default (no HOST_ line, no address): a one-member cluster whose
 * endpoints are the compose service names `etcd` and `postgres`. Natively its
 * processes resolve those names through a private /etc/hosts (native.ts).
 */
let cluster: NativeCluster;

beforeAll(async () => {
  cluster = await nativeCluster('ha1', [{ name: 'main', listen: '127.0.0.21' }], FAST_TIMING);
});

tearDownAfterAll(() => cluster);

describe('a one-member cluster (one host, no address)', () => {
  it('names its peers by compose service name and bootstraps to a leader that takes writes without a standby', async () => {
    const [main] = cluster.members;
    if (!main) throw new Error('no member');
    expect(cluster.rendered.get('main')?.etcd).toContain("advertise-client-urls: 'https://etcd:");
    expect(cluster.rendered.get('main')?.patroni).toMatch(/connect_address: 'postgres:5432'/);
    startEtcd(main);
    const valid = () => memberCommand(main, [join(main.dir, 'patroni', 'run.sh'), 'patroni', '--validate-config', main.patroniConfig]);
    // The validator dials etcd's client port: it passes once etcd listens.
    await waitFor('etcd to listen and the config to validate', () => valid().status === 0, WAIT_BUDGET_MS, 500);
    const began = Date.now();
    startPatroni(main);
    await waitForRoles(cluster, 'main to lead', (ms) => ms.length === 1 && ms[0]?.role === 'leader' && ms[0]?.state === 'running');
    console.log(`one-member bootstrap: ${((Date.now() - began) / 1000).toFixed(1)} s`);
    expect((await api(cluster, main, '/primary')).status).toBe(200);
    // synchronous_mode without synchronous_mode_strict: no standby, no wait (availability first).
    expect(psql(main.listen, 5432, 'SHOW synchronous_standby_names').out).toBe('');
    expect(psql(main.listen, 5432, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1); SELECT count(*) FROM t').out).toBe('1');
  });
});
