import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { composePolicyValidator } from '../../scripts/lib/check/validators/stack.js';
import { removeEntries, splitByRoles } from '../../scripts/lib/compose/roles.js';
import { registeredSecrets } from '../../scripts/lib/log.js';
import { listBundle } from '../../scripts/lib/render/bundle.js';
import { REPO, runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { testEnv } from '../stack/env.js';

const EXAMPLE = join(REPO, '.env.example');
/** The 3-host layout of the issue: two hosts with both roles, a third db host only. */
const THREE = [
  'HOST_DB1=engine=ssh://deploy@db1.internal roles=db,app address=10.0.0.11',
  'HOST_DB2=engine=ssh://deploy@db2.internal roles=db,app address=10.0.0.12',
  'HOST_DB3=engine=ssh://deploy@db3.internal roles=db address=10.0.0.13',
];
const SPLIT = [
  'HOST_DATA=engine=ssh://deploy@data.internal roles=db address=10.0.0.11',
  'HOST_WEB=engine=ssh://deploy@web.internal roles=app address=10.0.0.21',
];
const DB_SERVICES = ['etcd', 'postgres', 'pgbackrest', 'postgres-pitr'];

function render(out: string, hosts: string[], extra: string[] = []) {
  const sets = hosts.flatMap((line) => ['--set', line]);
  return runScript('render.ts', ['--env', 'prod', '--env-file', EXAMPLE, '--out', out, '--set', `STATE_DIR=${join(out, 'state')}`, ...sets, ...extra]);
}

const compose = (bundle: string) =>
  parse(readFileSync(join(bundle, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { labels?: Record<string, string>; ports?: string[] }>;
    volumes: Record<string, unknown>;
    networks: Record<string, unknown>;
    secrets: Record<string, { file: string }>;
  };
const manifest = (bundle: string) => JSON.parse(readFileSync(join(bundle, 'MANIFEST.json'), 'utf8'));

describe('render: one self-contained bundle per host', () => {
  it('3 hosts: dist/prod/<host> each, with its own up.sh, SHA256SUMS that verifies, and a MANIFEST naming host, roles and inventory', () => {
    const out = tempDir();
    const result = render(out, THREE);
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(join(out, 'prod')).sort()).toEqual(['db1', 'db2', 'db3']);
    for (const [name, roles] of [
      ['db1', ['db', 'app']],
      ['db2', ['db', 'app']],
      ['db3', ['db']],
    ] as const) {
      const bundle = join(out, 'prod', name);
      for (const file of ['up.sh', 'SHA256SUMS', 'MANIFEST.json', 'host-setup.txt', 'secret-owners.txt'])
        expect(existsSync(join(bundle, file)), file).toBe(true);
      const sums = spawnSync(needTool('sha256sum'), ['-c', '--strict', '--quiet', 'SHA256SUMS'], { cwd: bundle, encoding: 'utf8' });
      expect(sums.status, sums.stdout + sums.stderr).toBe(0);
      const m = manifest(bundle);
      expect(m).toMatchObject({ env: 'prod', host: name, roles });
      expect(m.inventory).toEqual([
        { name: 'db1', roles: ['db', 'app'], address: '10.0.0.11', engine: 'ssh://deploy@db1.internal' },
        { name: 'db2', roles: ['db', 'app'], address: '10.0.0.12', engine: 'ssh://deploy@db2.internal' },
        { name: 'db3', roles: ['db'], address: '10.0.0.13', engine: 'ssh://deploy@db3.internal' },
      ]);
      // Its own member: etcd and Patroni name the host, its ports are published on its own address only.
      expect(parse(readFileSync(join(bundle, 'etcd', 'etcd.yml'), 'utf8')).name).toBe(name);
      const address = m.inventory.find((h: { name: string }) => h.name === name).address;
      expect(compose(bundle).services.etcd?.ports).toEqual([2379, 2380, 2381].map((p) => `${address}:${p}:${p}`));
      expect(readFileSync(join(bundle, 'host-setup.txt'), 'utf8')).toContain(`\nhost ${name} ${address}\naddress4 ${address}\n`);
    }
    expect(result.stderr).toMatch(/rendered \d+ files for host db3 \(roles db\) into .*prod\/db3/);
  });

  it('a db host holds only the db services, the volumes, networks and secrets they use, and no file only app services read', () => {
    const out = tempDir();
    expect(render(out, THREE).code).toBe(0);
    const db3 = join(out, 'prod', 'db3');
    const model = compose(db3);
    expect(Object.keys(model.services).sort()).toEqual([...DB_SERVICES].sort());
    expect(Object.keys(model.networks).sort()).toEqual(['cluster', 'pgbackrest']);
    expect(Object.keys(model.volumes).sort()).toEqual(['etcd-data', 'pgbackrest-log', 'pgbackrest-spool', 'postgres-data', 'postgres-socket']);
    expect(Object.keys(model.secrets).sort()).toEqual([
      'cluster_api_password',
      'pgbackrest_cipher.conf',
      'postgres_password',
      'postgres_replication_password',
      'postgres_rewind_password',
    ]);
    const files = listBundle(db3);
    for (const folder of ['nginx/', 'monitoring/', 'haproxy/', 'redis/', 'nginx-entrypoint/'])
      expect(
        files.filter((f) => f.startsWith(folder)),
        folder,
      ).toEqual([]);
    for (const secret of ['secrets/secret_key', 'secrets/database_url', 'secrets/redis_password', 'secrets/grafana_admin_password'])
      expect(files, secret).not.toContain(secret);
    // Files no service reads stay in every bundle (Kubernetes, the backup timers, the repository host's bundle).
    expect(files.some((f) => f.startsWith('k8s/'))).toBe(true);
    expect(files).toContain('repo-host/docker-compose.yml');
    expect(files).toContain('patroni/patroni.yml');
    const setup = readFileSync(join(db3, 'host-setup.txt'), 'utf8');
    expect(setup).not.toMatch(/^migrate /m);
    expect(setup.match(/^datastore .*/gm)).toEqual(['datastore etcd', 'datastore postgres']);
    // Only the certificates its services mount: its own etcd and Patroni ones, pgBackRest's, not nginx's.
    expect(setup.match(/^require .*/gm)?.map((l) => l.replace(/^require .*\/state\//, ''))).toEqual([
      'pgbackrest/tls/db/ca.pem',
      'pgbackrest/tls/db/cert.pem',
      'pgbackrest/tls/db/key.pem',
      ...['etcd', 'postgres'].flatMap((c) => ['ca.pem', 'cert.pem', 'key.pem'].map((f) => `cluster/tls/db3/${c}/${f}`)),
    ]);
    // A host with both roles holds the whole stack.
    expect(Object.keys(compose(join(out, 'prod', 'db1')).services)).toContain('nginx');
  });

  it('db / app on two hosts: the app host has HAProxy and the rest, migrates, and holds nothing of PostgreSQL', () => {
    const out = tempDir();
    const result = render(out, SPLIT);
    expect(result.code, result.stderr).toBe(0);
    const web = join(out, 'prod', 'web');
    const services = Object.keys(compose(web).services);
    expect(services).toContain('haproxy');
    expect(services).toContain('backend');
    expect(services.filter((s) => DB_SERVICES.includes(s))).toEqual([]);
    const files = listBundle(web);
    for (const folder of ['patroni/', 'etcd/', 'postgres/'])
      expect(
        files.filter((f) => f.startsWith(folder)),
        folder,
      ).toEqual([]);
    expect(files).not.toContain('secrets/postgres_replication_password');
    expect(files).toContain('secrets/database_url');
    expect(readFileSync(join(web, 'host-setup.txt'), 'utf8')).toMatch(/^migrate alembic upgrade head$/m);
  });

  it('the quorum rules hold: two db hosts are refused (exit 2, nothing written), (db,app) + (app) is fine', () => {
    const out = tempDir();
    const two = render(out, ['HOST_A=engine=ssh://a.internal roles=db,app address=10.0.0.1', 'HOST_B=engine=ssh://b.internal roles=db,app address=10.0.0.2']);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(
      /HOST_A \(from --set\) and the other HOST_ lines give two hosts the db role: etcd needs a majority, so two members survive no loss; use one db host, or three\./,
    );
    expect(readdirSync(out)).toEqual([]);
    const fine = render(out, ['HOST_A=engine=ssh://a.internal roles=db,app address=10.0.0.1', 'HOST_B=engine=ssh://b.internal roles=app address=10.0.0.2']);
    expect(fine.code, fine.stderr).toBe(0);
    expect(readdirSync(join(out, 'prod')).sort()).toEqual(['a', 'b']);
  });

  it('the compose file of a host keeps every kept line byte for byte (comments too), in order, under one header line', () => {
    const out = tempDir();
    expect(render(out, THREE).code).toBe(0);
    const whole = readFileSync(join(out, 'prod', 'db1', 'docker-compose.yml'), 'utf8').split('\n');
    const [header, ...part] = readFileSync(join(out, 'prod', 'db3', 'docker-compose.yml'), 'utf8').split('\n');
    expect(header).toBe('# Host db3 (roles db): only the services of its roles (label io.healthmate.role); the others run on the other hosts.');
    // db1 and db3 differ only by their own values (name, address, TLS folders).
    const own = (line: string) => line.replace(/db1|db3|10\.0\.0\.11|10\.0\.0\.13/g, 'X');
    let at = 0;
    for (const line of part) {
      while (at < whole.length && own(whole[at] as string) !== own(line)) at++;
      expect(at, `line kept in order: ${line}`).toBeLessThan(whole.length);
      at++;
    }
    // The db services' comments are there; no blank line doubled; each section still starts after a blank line.
    expect(part).toContain('    # PostgreSQL run by Patroni (patroni/patroni.yml): one member per db host; the leader takes');
    expect(part.join('\n')).not.toMatch(/\n\n\n/);
    for (const section of ['services:', 'networks:', 'volumes:', 'secrets:']) expect(part[part.indexOf(section) - 1], section).toBe('');
  });

  it('--dry-run prints the files per host and writes nothing; --check reports a changed host file and a host folder no render wrote', () => {
    const out = tempDir();
    const dry = render(out, THREE, ['--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^host db3 \(roles db\): .*prod\/db3$/m);
    expect(dry.stdout).toMatch(/^ {2}would write .*prod\/db3\/up\.sh \(755\)$/m);
    expect(dry.stdout).not.toMatch(/would write .*prod\/db3\/nginx\//);
    expect(readdirSync(out)).toEqual([]);
    expect(render(out, THREE).code).toBe(0);
    expect(render(out, THREE, ['--check']).code).toBe(0);
    writeFileSync(join(out, 'prod', 'db2', 'etcd', 'etcd.yml'), 'edited by hand\n');
    mkdirSync(join(out, 'prod', 'db4'));
    writeFileSync(join(out, 'prod', 'db4', 'up.sh'), '');
    const drift = render(out, THREE, ['--check']);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toContain('changed: db2/etcd/etcd.yml');
    expect(drift.stdout).toContain('extra: db4/up.sh');
  });

  it('replaces only bundles it rendered: the parent and each host folder (N1); one host to three and back swaps dist/prod whole', () => {
    const out = tempDir();
    expect(render(out, []).code).toBe(0);
    expect(manifest(join(out, 'prod')).host).toBe('main');
    expect(render(out, THREE).code).toBe(0);
    expect(readdirSync(join(out, 'prod')).sort()).toEqual(['db1', 'db2', 'db3']);
    writeFileSync(join(out, 'prod', 'db2', 'notes.txt'), 'mine');
    const refused = render(out, THREE);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /prod holds db2\/, which holds notes\.txt, which its MANIFEST\.json does not list; render replaces only a bundle it rendered/,
    );
    rmSync(join(out, 'prod', 'db2', 'notes.txt'));
    writeFileSync(join(out, 'prod', 'README'), 'mine');
    expect(render(out, THREE).stderr).toMatch(/prod holds README beside its host bundles, which no render wrote/);
    expect(readFileSync(join(out, 'prod', 'README'), 'utf8')).toBe('mine');
    rmSync(join(out, 'prod', 'README'));
    expect(render(out, []).code).toBe(0);
    expect(existsSync(join(out, 'prod', 'db1'))).toBe(false);
    expect(manifest(join(out, 'prod')).host).toBe('main');
  });
});

describe('the role filter', () => {
  const DB = [
    '  # the database',
    '  db:',
    '    image: "postgres:15"',
    '    labels:',
    '      io.healthmate.role: db',
    '    volumes: [data:/var/lib/data]',
    '    networks: [back]',
    '',
  ];
  const WEB = ['  web:', '    image: "nginx:1"', '    labels: {io.healthmate.role: app}', '    networks: [front]', '    depends_on: [db]', ''];
  const TEXT = ['services:', ...DB, ...WEB, 'networks:', '  back: {}', '  front: {}', '', 'volumes:', '  data: {}', ''].join('\n');

  it('keeps what a role uses, removes entries with the comments above them, empties a section to {}', () => {
    const split = splitByRoles(TEXT.replace('    depends_on: [db]\n', ''), ['db']);
    expect(split).toMatchObject({ kept: ['db'], dropped: { services: ['web'], networks: ['front'], volumes: [], secrets: [] } });
    expect(removeEntries(TEXT, { services: ['db'], networks: ['back'], volumes: ['data'], secrets: [] })).toBe(
      ['services:', ...WEB, 'networks:', '  front: {}', '', 'volumes: {}', ''].join('\n'),
    );
  });

  it('refuses a service of one role that depends on one of another, and a service without a role label on a host without every role', () => {
    expect(() => splitByRoles(TEXT, ['app'])).toThrow(/service web of docker-compose\.yml depends on db, which runs on the hosts of another role/);
    expect(() => splitByRoles(TEXT.replace('    labels: {io.healthmate.role: app}\n', ''), ['db'])).toThrow(
      /service web of docker-compose\.yml has no io\.healthmate\.role label, so no host of roles db can tell whether it runs it; label it db or app\./,
    );
    // A host with every role (one host, dev) runs an unlabelled service.
    expect(splitByRoles(TEXT.replace('    labels: {io.healthmate.role: app}\n', ''), ['db', 'app']).kept).toEqual(['db', 'web']);
  });
});

describe('check.ts across hosts', () => {
  it('checks every host: renders each into a temp folder, or takes one host bundle with --bundle; compose config and policy pass on each', {
    timeout: 400_000,
  }, () => {
    const out = tempDir();
    const sets = ['--set', `STATE_DIR=${join(out, 'state')}`, ...SPLIT.flatMap((line) => ['--set', line])];
    const all = runScript('check.ts', ['--env', 'prod', '--env-file', EXAMPLE, ...sets], { timeoutMs: 300_000 });
    expect(all.code, all.stdout + all.stderr).toBe(0);
    for (const host of ['data', 'web']) expect(all.stdout).toMatch(new RegExp(`^host ${host}:\\n(?:.*\\n)*?check: \\d+ validators, 0 errors`, 'm'));
    expect(render(out, SPLIT).code).toBe(0);
    const one = runScript('check.ts', ['--env', 'prod', '--env-file', EXAMPLE, ...sets, '--bundle', join(out, 'prod', 'data')], { timeoutMs: 300_000 });
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^check: \d+ validators, 0 errors/m);
    expect(one.stderr).toMatch(/compose config \(real tool\)/);
  });
});

describe('check: the compose policy of a host bundle', () => {
  it("a db host's cluster ports may be published on its own address, not on another host's", async () => {
    const out = tempDir();
    expect(render(out, THREE).code).toBe(0);
    const db3 = join(out, 'prod', 'db3');
    const { env } = testEnv('prod', Object.fromEntries(THREE.map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string])));
    const run = () => composePolicyValidator.run({ bundleDir: db3, env, files: listBundle(db3), secretValues: registeredSecrets() });
    expect(await run()).toEqual([]);
    const file = join(db3, 'docker-compose.yml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"10.0.0.13:2379:2379"', '"10.0.0.11:2379:2379"'));
    expect((await run()).map((p) => p.message)).toEqual([
      'service etcd publishes 10.0.0.11:2379:2379 beyond loopback; only nginx may, bind it to 127.0.0.1 or to 10.0.0.13 with the same port on both sides instead.',
    ]);
  });
});
