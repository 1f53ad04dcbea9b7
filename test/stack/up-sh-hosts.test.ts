import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planHostBundles, writeBundles } from '../../scripts/lib/render/bundle.js';
import { COREUTILS, reducedPath } from '../helpers/reduced-path.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { testEnv } from './env.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';

/**
 * up.sh of a host's bundle (dash, a PATH of coreutils and Docker only): a db host brings up
 * etcd, PostgreSQL under Patroni and pgbackrest and migrates nothing; an app host the rest,
 * migrating through HAProxy; and a bundle refuses a machine that lacks its host's address.
 * Each run is in a network namespace of its own holding the address the test gives the
 * machine, so the host's real interfaces play no part. No engine answers (DOCKER_HOST points
 * nowhere): the dry run checks and prints, as the single-host tests do (test/stack/up-sh.test.ts).
 */
const LAYOUTS = {
  three: {
    HOST_DB1: 'engine=ssh://deploy@db1.internal roles=db,app address=10.0.0.11',
    HOST_DB2: 'engine=ssh://deploy@db2.internal roles=db,app address=10.0.0.12',
    HOST_DB3: 'engine=ssh://deploy@db3.internal roles=db address=10.0.0.13',
  },
  split: {
    HOST_DATA: 'engine=ssh://deploy@data.internal roles=db address=10.0.0.31',
    HOST_WEB: 'engine=ssh://deploy@web.internal roles=app address=fd00::21',
  },
};

interface HostBundle {
  bundle: string;
  stateDir: string;
  /** A PATH of coreutils and Docker only. */
  path: string;
}

/** One host's bundle of the layout, written as render writes it, with stand-ins for the certificate files it requires. */
function hostBundle(layout: keyof typeof LAYOUTS, host: string): HostBundle {
  const { env, stateDir } = testEnv('prod', LAYOUTS[layout]);
  const root = writeBundles(planHostBundles(env), tempDir('healthmate-upsh-hosts-'));
  const bundle = join(root, host);
  for (const line of readFileSync(join(bundle, 'host-setup.txt'), 'utf8').split('\n')) {
    if (!line.startsWith('require ')) continue;
    const file = line.slice('require '.length);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, 'stand-in\n');
  }
  return { bundle, stateDir, path: reducedPath(join(stateDir, '..'), [...COREUTILS, 'docker', 'docker-compose']) };
}

/** up.sh with dash and a PATH of coreutils and Docker only, in a network namespace whose loopback holds `address`. */
function upSh(rendered: HostBundle, address: string, args: string[]) {
  const dash = needTool('dash');
  const family = address.includes(':') ? '-6' : '-4';
  const prefix = address.includes(':') ? '128' : '32';
  // nodad: an IPv6 address is usable (and listed) at once, not after duplicate address detection.
  const setup = `"$1" link set lo up && "$1" ${family} addr add "$2/${prefix}" dev lo ${family === '-6' ? 'nodad' : ''} && shift 2 && exec "$@"`;
  const result = spawnSync(
    needTool('unshare'),
    ['--net', '--', dash, '-c', setup, 'sh', needTool('ip'), address, dash, join(rendered.bundle, 'up.sh'), ...args],
    {
      cwd: '/',
      encoding: 'utf8',
      env: { PATH: rendered.path, DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
      timeout: 120_000,
    },
  );
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function expectNothingChanged(rendered: HostBundle): void {
  for (const line of readFileSync(join(rendered.bundle, 'secret-owners.txt'), 'utf8').split('\n')) {
    const path = line.split(' ')[2];
    if (path && !line.startsWith('#')) expect(statSync(join(rendered.bundle, path)).uid, path).toBe(process.getuid?.());
  }
  expect(existsSync(join(rendered.stateDir, 'acme'))).toBe(false);
}

describe("up.sh of one host's bundle", () => {
  it('a db host (db3 of three): etcd and PostgreSQL under Patroni first, then pgbackrest; no migration, no app service', () => {
    const rendered = hostBundle('three', 'db3');
    const result = upSh(rendered, '10.0.0.13', ['--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    const out = result.stdout;
    expect(out).toContain('     # host db3, this machine has its address\n');
    expect(out).toMatch(/ -f \S+\/db3\/docker-compose\.yml up -d --no-deps etcd postgres\n/);
    expect(out).toContain('# wait until every container of etcd postgres pgbackrest is running and healthy (at most 300s)');
    expect(out).not.toContain('run --rm');
    expect(out).not.toMatch(/exec -T \S+ sh -c kill -HUP 1/);
    expect(out).toContain('chown 999 secrets/postgres_replication_password');
    expect(out).not.toContain('secrets/database_url');
    expect(out).toContain('dry run: nothing was changed.');
    expectNothingChanged(rendered);
  });

  it('an app host (an IPv6 address): HAProxy and redis first, the migrations through HAProxy, then the rest, and the reloads', () => {
    const rendered = hostBundle('split', 'web');
    const result = upSh(rendered, 'fd00::21', ['--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    const out = result.stdout;
    expect(out).toContain('     # host web, this machine has its address\n');
    expect(out).toMatch(/ up -d --no-deps haproxy redis\n/);
    expect(out).toMatch(/ run --rm --no-deps -T backend alembic upgrade head\n/);
    expect(out.indexOf(' up -d --no-deps haproxy redis')).toBeLessThan(out.indexOf(' run --rm '));
    expect(out).toMatch(/wait until every container of haproxy redis backend worker beat nginx .* is running and healthy/);
    expect(out).not.toMatch(/\b(etcd|patroni|pgbackrest)\b/);
    for (const service of ['nginx', 'prometheus', 'alertmanager', 'blackbox-exporter']) expect(out).toContain(`exec -T ${service} sh -c kill -HUP 1`);
    expectNothingChanged(rendered);
  });

  for (const [name, address] of [
    ['another host of the inventory (db1)', '10.0.0.11'],
    ['a machine of none', '192.0.2.7'],
  ] as const)
    it(`refuses to run on ${name}: exit 2, one sentence naming the host, in a dry run and a real run alike, nothing changed`, () => {
      const rendered = hostBundle('three', 'db3');
      for (const mode of [['--dry-run'], []]) {
        const result = upSh(rendered, address, mode);
        expect(result.code, result.stdout + result.stderr).toBe(2);
        expect(result.stderr.trim().split('\n').at(-1)).toBe(
          "up.sh: this bundle is for host db3 (10.0.0.13), and no interface of this machine has that address: copy this machine's own bundle here (dist/<env>/<its host>), or fix the host's address= in the inventory.",
        );
        expect(result.stdout).toBe('');
        expectNothingChanged(rendered);
      }
    });
});
