import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { backupHostValues } from '../../scripts/lib/backup/deriver.js';
import { clusterValues, dbHostPublishAllowance } from '../../scripts/lib/cluster/deriver.js';
import { readCompose } from '../../scripts/lib/compose/model.js';
import { checkPolicy } from '../../scripts/lib/compose/policy.js';
import { dbHosts, firstDbHost } from '../../scripts/lib/env/inventory.js';
import { registeredSecrets } from '../../scripts/lib/log.js';
import { pgbackrestDbNames } from '../../scripts/lib/pgbackrest/layout.js';
import { pgbackrestSettings } from '../../scripts/lib/pgbackrest/settings.js';
import { listBundle, planBundle, writeBundle } from '../../scripts/lib/render/bundle.js';
import { tempDir } from '../helpers/tmp.js';
import { testEnv } from '../stack/env.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';

/** HOST_ lines of `count` hosts, db and app on each, addresses 10.0.0.11… */
function hosts(count: number): Record<string, string> {
  return Object.fromEntries(
    Array.from({ length: count }, (_, i) => [`HOST_DB${i + 1}`, `engine=ssh://deploy@db${i + 1}.internal roles=db,app address=10.0.0.${11 + i}`]),
  );
}

function render(overrides: Record<string, string> = {}) {
  const { env } = testEnv('prod', overrides);
  const dir = writeBundle(planBundle(env), tempDir());
  const read = (path: string) => readFileSync(join(dir, path), 'utf8');
  return { env, dir, read, yaml: (path: string) => parse(read(path)) };
}

describe('cluster configs rendered from the inventory', () => {
  it('one host without an address: every endpoint is a compose service name, nothing published beyond loopback', () => {
    const { yaml, read, dir } = render();
    // One db host: the repository host dials PGBACKREST_DB_HOST, as before the cluster.
    expect(read('repo-host/pgbackrest/pgbackrest.conf').match(/^pg\d+-host=.*$/gm)).toEqual(['pg1-host=pgbackrest-db']);
    const patroni = yaml('patroni/patroni.yml');
    expect(patroni).toMatchObject({
      scope: 'healthmate',
      name: 'main',
      restapi: { listen: '0.0.0.0:8008', connect_address: 'postgres:8008' },
      etcd3: { hosts: 'etcd:2379', protocol: 'https' },
      postgresql: { connect_address: 'postgres:5432', data_dir: '/var/lib/postgresql/data/pgdata' },
      bootstrap: { dcs: { ttl: 20, loop_wait: 5, retry_timeout: 5, synchronous_mode: true, synchronous_mode_strict: false } },
    });
    // The YAML tags make numbers and booleans of quoted placeholders, as Patroni's validator wants them.
    expect(patroni.bootstrap.dcs.postgresql.parameters.max_connections).toBe(400);
    expect(patroni.bootstrap.pg_hba).toEqual(patroni.postgresql.pg_hba);
    expect(yaml('etcd/etcd.yml')).toMatchObject({
      name: 'main',
      'advertise-client-urls': 'https://etcd:2379',
      'initial-advertise-peer-urls': 'https://etcd:2380',
      'initial-cluster': 'main=https://etcd:2380',
      'initial-cluster-state': 'new',
    });
    expect(read('haproxy/haproxy.cfg').match(/^ {4}server .*$/gm)).toEqual([
      '    server main postgres:5432 check port 8008',
      '    server main postgres:5432 check port 8008',
    ]);
    expect(yaml('monitoring/cluster/patroni.yml')).toEqual([{ targets: ['postgres:8008'], labels: { member: 'main', cluster: 'healthmate' } }]);
    expect(yaml('monitoring/cluster/etcd.yml')).toEqual([{ targets: ['etcd:2381'], labels: { member: 'main', cluster: 'healthmate' } }]);
    const compose = readCompose(join(dir, 'docker-compose.yml'));
    const ports = (name: string) => compose.services.find((s) => s.name === name)?.ports.map((p) => p.raw);
    expect(ports('etcd')).toEqual(['127.0.0.1::2379', '127.0.0.1::2380', '127.0.0.1::2381']);
    expect(ports('postgres')).toEqual(['127.0.0.1::5432', '127.0.0.1::8008']);
    expect(ports('pgbackrest')).toEqual(['127.0.0.1:8432:8432']);
    // Every service says which host role runs it.
    expect(compose.services.filter((s) => !['db', 'app'].includes(s.labels['io.healthmate.role'] ?? '')).map((s) => s.name)).toEqual([]);
  });

  it.each([3, 5])('%i hosts: the member list, etcd initial cluster, HAProxy servers and scrape targets name every db host by address', (count) => {
    const { env, yaml, read, dir } = render(hosts(count));
    const addresses = Array.from({ length: count }, (_, i) => `10.0.0.${11 + i}`);
    expect(yaml('patroni/patroni.yml').etcd3.hosts).toBe(addresses.map((a) => `${a}:2379`).join(','));
    expect(yaml('patroni/patroni.yml').restapi.connect_address).toBe('10.0.0.11:8008');
    expect(yaml('etcd/etcd.yml')['initial-cluster']).toBe(addresses.map((a, i) => `db${i + 1}=https://${a}:2380`).join(','));
    expect(read('haproxy/haproxy.cfg').match(/^ {4}server .*$/gm)).toEqual(
      [1, 2].flatMap(() => addresses.map((a, i) => `    server db${i + 1} ${a}:5432 check port 8008`)),
    );
    expect(yaml('monitoring/cluster/patroni.yml').map((t: { targets: string[] }) => t.targets[0])).toEqual(addresses.map((a) => `${a}:8008`));
    // The repository host backs up whichever member leads: it names every db host's pgBackRest server.
    expect(read('repo-host/pgbackrest/pgbackrest.conf').match(/^pg\d+-host=.*$/gm)).toEqual(
      addresses.map((_, i) => `pg${i + 1}-host=db${i + 1}.pgbackrest-db`),
    );
    expect(pgbackrestDbNames(env)).toEqual(addresses.map((_, i) => `db${i + 1}.pgbackrest-db`));
    // The bundle is the first db host's: its ports published on its address, which the policy allows precisely.
    const compose = readCompose(join(dir, 'docker-compose.yml'));
    expect(compose.services.find((s) => s.name === 'etcd')?.ports.map((p) => p.raw)).toEqual([
      '10.0.0.11:2379:2379',
      '10.0.0.11:2380:2380',
      '10.0.0.11:2381:2381',
    ]);
    // Its pgBackRest server too: the repository host, another machine, dials each db host there.
    expect(compose.services.find((s) => s.name === 'pgbackrest')?.ports.map((p) => p.raw)).toEqual(['10.0.0.11:8432:8432']);
    const host = firstDbHost(env.inventory);
    const allowance = dbHostPublishAllowance(env, host);
    expect(allowance?.address).toBe('10.0.0.11');
    const options = { bundleFiles: listBundle(dir), secretValues: registeredSecrets() };
    expect(checkPolicy(compose, { ...options, ...(allowance ? { onAddress: allowance } : {}) })).toEqual([]);
    expect(checkPolicy(compose, options).map((f) => f.service)).toEqual(['etcd', 'etcd', 'etcd', 'postgres', 'postgres', 'pgbackrest']);
  });

  it('per host: each member its own name, endpoint and TLS folders; a joining member lists the members before it', () => {
    const { env } = testEnv('prod', { ...hosts(3), ETCD_INITIAL_CLUSTER_STATE: 'existing' });
    const [one, two, three] = dbHosts(env.inventory).map((h) => clusterValues(env, h));
    expect(two).toMatchObject({ CLUSTER_MEMBER_NAME: 'db2', CLUSTER_POSTGRES_ENDPOINT: '10.0.0.12', CLUSTER_PUBLISH_POSTGRES: '10.0.0.12:5432:5432' });
    expect(two?.CLUSTER_ETCD_TLS_DIR).toMatch(/\/cluster\/tls\/db2\/etcd$/);
    // Each db host's pgBackRest server on its own address (PGBACKREST_DB_PUBLISH_ADDRESS is for a host without one).
    expect(dbHosts(env.inventory).map((h) => backupHostValues(env, h).PGBACKREST_DB_PUBLISH)).toEqual([
      '10.0.0.11:8432:8432',
      '10.0.0.12:8432:8432',
      '10.0.0.13:8432:8432',
    ]);
    expect([one, two, three].map((v) => v?.ETCD_INITIAL_CLUSTER)).toEqual([
      'db1=https://10.0.0.11:2380',
      'db1=https://10.0.0.11:2380,db2=https://10.0.0.12:2380',
      'db1=https://10.0.0.11:2380,db2=https://10.0.0.12:2380,db3=https://10.0.0.13:2380',
    ]);
  });

  it('one host without an address: its pgBackRest server on PGBACKREST_DB_PUBLISH_ADDRESS, which the policy allows for that port only', () => {
    const { env, dir } = render({ PGBACKREST_DB_PUBLISH_ADDRESS: '10.0.0.5' });
    const compose = readCompose(join(dir, 'docker-compose.yml'));
    expect(compose.services.find((s) => s.name === 'pgbackrest')?.ports.map((p) => p.raw)).toEqual(['10.0.0.5:8432:8432']);
    const allowance = dbHostPublishAllowance(env, firstDbHost(env.inventory));
    expect(allowance).toEqual({ address: '10.0.0.5', ports: { pgbackrest: [8432] } });
    const options = { bundleFiles: listBundle(dir), secretValues: registeredSecrets() };
    expect(checkPolicy(compose, { ...options, ...(allowance ? { onAddress: allowance } : {}) })).toEqual([]);
  });

  it('refuses a db host address that is a DNS name, and a leader key that could expire between two loops', () => {
    expect(() => render({ ...hosts(3), HOST_DB2: 'engine=ssh://db2.internal roles=db address=db2.internal' })).toThrow(
      /HOST_DB2 has address=db2\.internal, a DNS name: a db host publishes its cluster ports on an interface address; give its private IP/,
    );
    expect(() => render({ PATRONI_TTL: '14' })).toThrow(/PATRONI_TTL=14 is shorter than PATRONI_LOOP_WAIT \+ 2 × PATRONI_RETRY_TIMEOUT \(5 \+ 2 × 5 = 15\)/);
  });

  it("the scripts acting on one PostgreSQL (backups, PITR, rebuild) find the first db host's stack: its own folder with several hosts", () => {
    const files = (overrides: Record<string, string>) => {
      const { env, stateDir } = testEnv('prod', overrides);
      return { files: pgbackrestSettings(env).composeFiles, stateDir };
    };
    // Rendered only: dist/prod, or dist/prod/<first db host>.
    expect(files({}).files).toEqual({ db: resolve('dist/prod/docker-compose.yml'), repo: resolve('dist/prod/repo-host/docker-compose.yml') });
    const app = { HOST_WEB: 'engine=ssh://deploy@web.internal roles=app address=10.0.0.10' };
    expect(files({ ...app, ...hosts(3) }).files).toEqual({
      db: resolve('dist/prod/db1/docker-compose.yml'),
      repo: resolve('dist/prod/db1/repo-host/docker-compose.yml'),
    });
    // Deployed: the host's stable folder (hosts/<name>/current with several).
    const { env, stateDir } = testEnv('prod', { ...app, ...hosts(3) });
    const deployed = join(stateDir, 'deploy', 'hosts', 'db1', 'current', 'docker-compose.yml');
    mkdirSync(dirname(deployed), { recursive: true });
    writeFileSync(deployed, 'services: {}\n');
    expect(pgbackrestSettings(env).composeFiles.db).toBe(deployed);
  });
});
