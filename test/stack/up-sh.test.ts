import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { COMPOSE_V1 } from '../../scripts/lib/compose/engine.js';
import { readCompose } from '../../scripts/lib/compose/model.js';
import { type HostTarget, hostTargets } from '../../scripts/lib/deploy/hosts.js';
import { buildPlan } from '../../scripts/lib/deploy/plan.js';
import { stageRelease } from '../../scripts/lib/deploy/stage.js';
import { deployStore } from '../../scripts/lib/deploy/store.js';
import { statePaths } from '../../scripts/lib/paths.js';
import { planBundle, writeBundle } from '../../scripts/lib/render/bundle.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';
import { hostSetup } from '../../scripts/lib/compose/host-setup.js';
import type { InventoryHost } from '../../scripts/lib/env/inventory.js';
import { docker } from '../e2e/harness/docker.js';
import { type Dockerd, startDockerd } from '../e2e/harness/dockerd.js';
import { COREUTILS, reducedPath } from '../helpers/reduced-path.js';
import { REPO, runScript, SCRIPT_TIMEOUT_MS } from '../helpers/run.js';
import { type SilentServers, startSilentServers } from '../helpers/silent-server.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { testEnv } from './env.js';

/**
 * dist/<env>/up.sh and the files it reads, run for real with dash. The full bring-up
 * against a Docker engine is test/e2e/manual.test.ts; here: everything before it.
 */

interface Rendered {
  bundle: string;
  stateDir: string;
}

function renderBundle(name: 'prod' | 'dev'): Rendered {
  const { env, stateDir } = testEnv(name);
  const out = tempDir('healthmate-upsh-');
  return { bundle: writeBundle(planBundle(env), out), stateDir };
}

/** A bundle whose certificate files exist, so up.sh gets past its checks. */
function readyBundle(): Rendered {
  const rendered = renderBundle('prod');
  mkdirSync(join(rendered.stateDir, 'certs'), { recursive: true });
  for (const file of ['fullchain.pem', 'privkey.pem']) writeFileSync(join(rendered.stateDir, 'certs', file), 'stand-in\n');
  const pgbackrestTls = join(rendered.stateDir, 'pgbackrest', 'tls', 'db');
  mkdirSync(pgbackrestTls, { recursive: true });
  for (const file of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(pgbackrestTls, file), 'stand-in\n');
  // The cluster's: this host's etcd and Patroni certificates, the CA alone for HAProxy and Prometheus.
  for (const dir of ['tls/main/etcd', 'tls/main/postgres', 'ca']) {
    mkdirSync(join(rendered.stateDir, 'cluster', dir), { recursive: true });
    for (const file of dir === 'ca' ? ['ca.pem'] : ['ca.pem', 'cert.pem', 'key.pem'])
      writeFileSync(join(rendered.stateDir, 'cluster', dir, file), 'stand-in\n');
  }
  return rendered;
}

/** Runs up.sh with dash; PATH and DOCKER_HOST as given (an engine that is not there by default). */
function upSh(bundle: string, args: string[], env: NodeJS.ProcessEnv = {}, asUser?: number) {
  const dash = needTool('dash');
  const argv =
    asUser === undefined
      ? [dash, join(bundle, 'up.sh'), ...args]
      : ['--reuid', String(asUser), '--regid', String(asUser), '--clear-groups', dash, join(bundle, 'up.sh'), ...args];
  const result = spawnSync(asUser === undefined ? dash : needTool('setpriv'), asUser === undefined ? argv.slice(1) : argv, {
    cwd: '/',
    encoding: 'utf8',
    env: { PATH: process.env.PATH, DOCKER_HOST: 'unix:///nonexistent/docker.sock', ...env },
    // A check that never ends (a walk through a link to /) fails the test instead of hanging it.
    timeout: SCRIPT_TIMEOUT_MS,
  });
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** What a run must leave alone when it refuses: secrets still ours, no state folder made. */
function expectNothingChanged(rendered: Rendered): void {
  expect(statSync(join(rendered.bundle, 'secrets', 'database_url')).uid).toBe(process.getuid?.());
  expect(existsSync(join(rendered.stateDir, 'acme'))).toBe(false);
  expect(existsSync(join(rendered.bundle, 'nginx', 'certs'))).toBe(false);
}

describe('secret-owners.txt: the owner list up.sh applies', () => {
  for (const name of ['prod', 'dev'] as const) {
    it(`${name}: every secret a service reads is listed with the uid from its io.healthmate.secrets-uid label or user:`, () => {
      const { bundle } = renderBundle(name);
      // Read the compose file here with plain YAML, not through the code under test.
      const doc = parse(readFileSync(join(bundle, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
        services: Record<string, { user?: string; labels?: Record<string, string>; secrets?: string[] }>;
        secrets: Record<string, { file: string }>;
      };
      const expected = new Map<string, string>();
      for (const service of Object.values(doc.services)) {
        const uid = service.labels?.['io.healthmate.secrets-uid'] ?? service.user?.split(':')[0] ?? '0';
        for (const secret of service.secrets ?? []) expected.set((doc.secrets[secret]?.file ?? '').replace(/^\.\//, ''), uid);
      }
      const listed = new Map(
        readFileSync(join(bundle, 'secret-owners.txt'), 'utf8')
          .split('\n')
          .filter((line) => line && !line.startsWith('#'))
          .map((line) => {
            const [uid, mode, path] = line.split(' ');
            expect(mode).toBe('0600');
            return [path as string, uid as string];
          }),
      );
      expect(listed).toEqual(expected);
      // The services the issue names: backend reads database_url as 10001, Grafana its password as 472.
      expect(listed.get('secrets/database_url')).toBe('10001');
      expect(listed.get('secrets/grafana_admin_password')).toBe('472');
      expect(listed.get('secrets/postgres_password')).toBe('999');
      for (const path of listed.keys()) expect(existsSync(join(bundle, path)), path).toBe(true);
    });
  }

  it('the deploy reads the same derivation: hostSetup of the rendered compose file gives the same owners, folders and mount points', () => {
    const { env } = testEnv('prod');
    const out = tempDir('healthmate-upsh-');
    const bundle = writeBundle(planBundle(env), out);
    const setup = hostSetup(readCompose(join(bundle, 'docker-compose.yml')), env, env.inventory.hosts[0] as InventoryHost);
    const fileLines = readFileSync(join(bundle, 'host-setup.txt'), 'utf8').split('\n');
    for (const dir of setup.stateDirs) expect(fileLines).toContain(`state-dir ${dir.uid ?? '-'} ${dir.path}`);
    expect(fileLines).toContain('mountpoint nginx/certs');
    const owners = readFileSync(join(bundle, 'secret-owners.txt'), 'utf8');
    for (const secret of setup.secrets) expect(owners).toContain(`${secret.uid} 0600 ${secret.path}\n`);
  });
});

describe('deploy-prod.ts applies the same owner list', () => {
  it('stageRelease (as root, local engine) gives each secret in current/ the uid secret-owners.txt names, and makes the folders host-setup.txt lists', async () => {
    expect(process.getuid?.(), 'this test chowns files: run it as root (CI does)').toBe(0);
    const { env, envFile } = testEnv('prod');
    const input = {
      env,
      ...(envFile ? { envFile } : {}),
      overrides: {},
      flavor: COMPOSE_V1,
      hosts: hostTargets(env, COMPOSE_V1, undefined),
      releaseId: '20260101T000000Z-1.0.0',
      skipBackup: true,
      skipChecks: [],
      asRoot: true,
    };
    const plan = buildPlan(input);
    const target = input.hosts[0] as HostTarget;
    const currentDir = target.currentDir;
    const releaseDir = writeBundle(planBundle(env, undefined, undefined, target.host), tempDir('healthmate-upsh-'));
    const paths = statePaths(env);
    const store = deployStore(target.engine, paths.deploy);
    await stageRelease({ plan, input, paths, target, host: target.engine, store, dryRun: false, engines: [] }, releaseDir);
    const owners = readFileSync(join(releaseDir, 'secret-owners.txt'), 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'));
    expect(owners.length).toBeGreaterThan(5);
    for (const line of owners) {
      const [uid, , path] = line.split(' ');
      expect(statSync(join(currentDir, path as string)).uid, path).toBe(Number(uid));
    }
    for (const line of readFileSync(join(releaseDir, 'host-setup.txt'), 'utf8').split('\n')) {
      const [kind, owner, path] = line.split(' ');
      if (kind === 'state-dir') expect(statSync(path as string).isDirectory(), path).toBe(true);
      if (kind === 'state-dir' && owner !== '-') expect(statSync(path as string).uid, path).toBe(Number(owner));
      if (kind === 'mountpoint') expect(statSync(join(currentDir, owner as string)).isDirectory(), owner).toBe(true);
    }
    // Stand-ins for the certificates generate-certs.ts makes in a real deploy (before this step).
    for (const made of Object.keys(STATE_MOUNTS).filter((dir) => STATE_MOUNTS[dir]?.madeBy !== 'the bring-up'))
      mkdirSync(join(paths.root, made), { recursive: true });
    expectMountsReady(join(currentDir, 'docker-compose.yml'), currentDir, paths.root);
  });
});

/**
 * Host paths the prod services bind-mount, written by hand from compose/docker-compose.prod.yml
 * (relative to STATE_DIR): who makes each, and the uids that read or write it in its container.
 * The checks below read the rendered compose file with plain YAML and compare with this list,
 * never with hostSetup(): a mount the derivation forgets fails here.
 */
const STATE_MOUNTS: Record<
  string,
  { madeBy: 'the bring-up' | 'generate-certs.ts --profile pgbackrest' | 'generate-certs.ts --profile cluster'; users: Record<string, number> }
> = {
  certs: { madeBy: 'the bring-up', users: { nginx: 0, 'blackbox-exporter': 65534 } },
  acme: { madeBy: 'the bring-up', users: { nginx: 0, certbot: 0 } },
  letsencrypt: { madeBy: 'the bring-up', users: { certbot: 0 } },
  textfile: { madeBy: 'the bring-up', users: { 'node-exporter': 65534 } },
  'pgbackrest/tls/db': { madeBy: 'generate-certs.ts --profile pgbackrest', users: { postgres: 999, pgbackrest: 999, 'postgres-pitr': 0 } },
  // The cluster's (the one-host inventory's member is `main`): its etcd and Patroni certificates, the CA alone
  // for HAProxy and Prometheus.
  'cluster/tls/main/etcd': { madeBy: 'generate-certs.ts --profile cluster', users: { etcd: 0 } },
  'cluster/tls/main/postgres': { madeBy: 'generate-certs.ts --profile cluster', users: { postgres: 999 } },
  'cluster/ca': { madeBy: 'generate-certs.ts --profile cluster', users: { haproxy: 0, prometheus: 0 } },
};
/** Bundle folders that must exist because a container mounts something inside a read-only bundle mount. */
const NESTED_MOUNTPOINTS = ['nginx/certs'];
/** The one host path outside STATE_DIR: node-exporter reads the host root. */
const HOST_ROOT_MOUNT = '/';

interface BindMount {
  service: string;
  source: string;
  target: string;
  readOnly: boolean;
  uid: number;
}

/** Every bind mount of the rendered compose file, read with plain YAML (short syntax, as the templates write them). */
function bindMounts(composeFile: string): BindMount[] {
  const doc = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as {
    services: Record<string, { user?: string; volumes?: string[] }>;
  };
  return Object.entries(doc.services).flatMap(([service, spec]) =>
    (spec.volumes ?? [])
      .map((volume) => volume.split(':'))
      .filter(([source]) => source?.startsWith('/') || source?.startsWith('.'))
      .map(([source, target, flags]) => ({
        service,
        source: source as string,
        target: target as string,
        readOnly: flags === 'ro',
        uid: Number(spec.user?.split(':')[0] ?? 0),
      })),
  );
}

/**
 * What the compose file needs on the host, checked against the hand-written list: every state
 * folder it mounts exists as a folder, owned by root, and each uid that uses it can enter it
 * (and write it, for a read-write mount); every bundle folder it mounts or mounts into exists.
 */
function expectMountsReady(composeFile: string, bundle: string, stateDir: string): void {
  const mounts = bindMounts(composeFile);
  const stateMounts = mounts.filter((m) => m.source.startsWith(`${stateDir}/`));
  expect(new Set(stateMounts.map((m) => relative(stateDir, m.source)))).toEqual(new Set(Object.keys(STATE_MOUNTS)));
  expect(mounts.filter((m) => m.source.startsWith('/') && !m.source.startsWith(`${stateDir}/`)).map((m) => m.source)).toEqual([HOST_ROOT_MOUNT]);
  for (const mount of stateMounts) {
    const expected = STATE_MOUNTS[relative(stateDir, mount.source)];
    expect(expected?.users[mount.service], `${mount.service} mounts ${mount.source}`).toBe(mount.uid);
    const stat = statSync(mount.source);
    expect(stat.isDirectory(), mount.source).toBe(true);
    if (expected?.madeBy !== 'the bring-up') continue;
    expect(stat.uid, mount.source).toBe(0);
    // Another uid enters and reads through "other" bits; only root writes these folders.
    if (mount.uid !== stat.uid) expect(stat.mode & 0o005, `${mount.source} for uid ${mount.uid}`).toBe(0o005);
    if (!mount.readOnly) expect(mount.uid, `${mount.service} writes ${mount.source}`).toBe(stat.uid);
  }
  const bundleMounts = mounts.filter((m) => m.source.startsWith('.'));
  for (const mount of bundleMounts) expect(statSync(join(bundle, mount.source)).isDirectory(), mount.source).toBe(true);
  // A mount inside a read-only bundle mount needs its folder in the bundle: Docker cannot create it there.
  const nested = bundleMounts
    .filter((outer) => outer.readOnly)
    .flatMap((outer) =>
      mounts
        .filter((inner) => inner.service === outer.service && inner.target.startsWith(`${outer.target}/`))
        .map((inner) => join(outer.source, inner.target.slice(outer.target.length + 1))),
    );
  expect([...new Set(nested)].sort()).toEqual(NESTED_MOUNTPOINTS);
  for (const path of NESTED_MOUNTPOINTS) expect(statSync(join(bundle, path)).isDirectory(), path).toBe(true);
}

describe('every host path a prod service mounts is ready after the bring-up (checked against the compose file)', () => {
  let daemon: Dockerd | undefined;
  afterAll(async () => {
    if (daemon) {
      // The stack's monitoring network has a pinned subnet outside the daemon's pool: remove it while the daemon runs.
      const containers = docker(daemon, ['ps', '-aq']).split('\n').filter(Boolean);
      if (containers.length > 0) docker(daemon, ['rm', '-f', ...containers]);
      docker(daemon, ['network', 'prune', '-f']);
      await daemon.stop();
    }
  });

  it('up.sh: steps 2 and 3 make each state folder and mount point, with owners and modes the services can use', async () => {
    expect(process.getuid?.(), 'up.sh chowns secrets and state folders: run it as root (CI does)').toBe(0);
    needTool('docker-compose');
    daemon = await startDockerd();
    const rendered = readyBundle();
    // A real run against a real engine without images: it passes steps 1-3, then fails to start postgres.
    const result = upSh(rendered.bundle, ['--timeout', '10'], { DOCKER_HOST: daemon.host });
    expect(result.stderr, result.stderr).toMatch(/^3\. state folders and mount points$/m);
    expect(result.stderr).toMatch(/^4\. start the stack and wait for health$/m);
    expectMountsReady(join(rendered.bundle, 'docker-compose.yml'), rendered.bundle, rendered.stateDir);
  });
});

describe('SHA256SUMS', () => {
  it('sha256sum -c proves a fresh bundle, lists every file but the secrets, and render --check reports it when it drifts', () => {
    const out = tempDir('healthmate-upsh-');
    const envFile = join(REPO, '.env.example');
    const args = ['--env', 'prod', '--env-file', envFile, '--out', out, '--set', `STATE_DIR=${join(out, 'state')}`];
    expect(runScript('render.ts', args).code).toBe(0);
    const bundle = join(out, 'prod');
    const check = spawnSync(needTool('sha256sum'), ['-c', '--strict', 'SHA256SUMS'], { cwd: bundle, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const listed = readFileSync(join(bundle, 'SHA256SUMS'), 'utf8').trim().split('\n');
    for (const line of listed) expect(line).toMatch(/^[0-9a-f]{64} {2}[^ ]+$/);
    const paths = listed.map((line) => line.slice(66));
    expect(paths).toContain('up.sh');
    expect(paths).toContain('MANIFEST.json');
    expect(paths).toContain('secret-owners.txt');
    expect(paths.filter((p) => p.startsWith('secrets/'))).toEqual([]);

    appendFileSync(join(bundle, 'SHA256SUMS'), `${'0'.repeat(64)}  nginx/extra.conf\n`);
    const drift = runScript('render.ts', [...args, '--check']);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toContain('changed: SHA256SUMS');
  });
});

describe('up.sh (dash)', () => {
  // The kernel accepts on its behalf while spawnSync blocks this process: the client waits for an answer that never comes.
  let silent: SilentServers;
  beforeAll(async () => {
    silent = await startSilentServers();
  });
  afterAll(async () => {
    await silent?.close();
  });

  it('is plain POSIX sh: shellcheck -s sh finds nothing, in the repo and in both bundles', () => {
    const shellcheck = needTool('shellcheck');
    const files = [join(REPO, 'compose', 'up.sh'), join(renderBundle('prod').bundle, 'up.sh'), join(renderBundle('dev').bundle, 'up.sh')];
    const result = spawnSync(shellcheck, ['-s', 'sh', ...files], { encoding: 'utf8' });
    expect(result.status, result.stdout).toBe(0);
    expect(statSync(files[1] as string).mode & 0o777).toBe(0o755);
  });

  it('--dry-run checks the copy and prints every step with its commands; nothing changes', () => {
    const rendered = readyBundle();
    const result = upSh(rendered.bundle, ['--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(/^1\. verify the copy$/m);
    expect(out).toMatch(/sha256sum -c SHA256SUMS {2}# \d+ files OK, none unlisted/);
    expect(out).toContain('chown 10001 secrets/database_url');
    expect(out).toContain('chmod 0600 secrets/database_url');
    expect(out).toContain('chown 472 secrets/grafana_admin_password');
    expect(out).toContain(`mkdir -p ${join(rendered.stateDir, 'acme')}`);
    expect(out).toContain('mkdir -p nginx/certs');
    expect(out).toMatch(/docker-compose -p healthmate -f \S+\/docker-compose\.yml up -d --no-deps etcd postgres haproxy redis/);
    expect(out).toMatch(/run --rm --no-deps -T backend alembic upgrade head/);
    expect(out).toMatch(/wait until every container of etcd postgres pgbackrest haproxy redis backend .* is running and healthy \(at most 300s\)/);
    for (const service of ['nginx', 'prometheus', 'alertmanager', 'blackbox-exporter']) expect(out).toContain(`exec -T ${service} sh -c kill -HUP 1`);
    expect(out).toContain('dry run: nothing was changed.');
    // Without an engine the dry run warns; the real run refuses (below).
    expect(result.stderr).toContain('cannot be reached (a real run stops here)');
    expectNothingChanged(rendered);
  });

  const refusals: {
    name: string;
    code: number;
    prepare(r: Rendered): void;
    args?: string[];
    env?(r: Rendered): NodeJS.ProcessEnv;
    asUser?: number;
    message: RegExp;
    /** What stderr names above the sentence. */
    stderr?: RegExp;
  }[] = [
    {
      name: 'a tampered file',
      code: 2,
      prepare: (r) => appendFileSync(join(r.bundle, 'nginx', 'nginx.conf'), '\n# changed on the host\n'),
      message: /does not match its SHA256SUMS/,
    },
    {
      name: 'a file SHA256SUMS does not list',
      code: 2,
      prepare: (r) => writeFileSync(join(r.bundle, 'monitoring', 'rules', 'stray.yml'), 'groups: []\n'),
      message: /files not in SHA256SUMS are in .*: 'monitoring\/rules\/stray\.yml'; remove them/,
    },
    {
      // Prometheus loads rules/*.yml: `..evil.yml` is one of them, though `.[!.]*` globs miss it.
      name: 'an unlisted file whose name starts with ..',
      code: 2,
      prepare: (r) => writeFileSync(join(r.bundle, 'monitoring', 'rules', '..evil.yml'), 'groups: []\n'),
      message: /files not in SHA256SUMS are in .*: 'monitoring\/rules\/\.\.evil\.yml'; remove them/,
    },
    {
      // Split into words, this name is two listed files.
      name: 'an unlisted file whose name holds a space',
      code: 2,
      prepare: (r) => writeFileSync(join(r.bundle, 'monitoring', 'rules', 'healthmate_rules.yml docker-compose.yml'), 'groups: []\n'),
      message: /files not in SHA256SUMS are in .*: 'monitoring\/rules\/healthmate_rules\.yml docker-compose\.yml'; remove them/,
    },
    {
      name: 'an unlisted file whose name holds a line break',
      code: 2,
      prepare: (r) => writeFileSync(join(r.bundle, 'monitoring', 'rules', 'x.yml\ndocker-compose.yml'), 'groups: []\n'),
      message: /a file name with a line break is in .* \(it starts "monitoring\/rules\/x\.yml"\); remove it/,
    },
    {
      name: 'an unlisted symbolic link (never followed)',
      code: 2,
      prepare: (r) => symlinkSync('/', join(r.bundle, 'monitoring', 'rules', 'host')),
      message: /files not in SHA256SUMS are in .*: 'monitoring\/rules\/host'; remove them/,
    },
    {
      name: 'a listed file missing from the copy',
      code: 2,
      prepare: (r) => rmSync(join(r.bundle, 'monitoring', 'rules', 'healthmate_rules.yml')),
      message: /the copy in .* does not match its SHA256SUMS \(files above\)/,
      stderr: /monitoring\/rules\/healthmate_rules\.yml: FAILED open or read/,
    },
    {
      // sha256sum -c only warns about such a line; the name in it would count as listed.
      name: 'a SHA256SUMS line that is not <sha256>  <file>',
      code: 2,
      prepare: (r) => appendFileSync(join(r.bundle, 'SHA256SUMS'), 'not-a-hash  monitoring/rules/evil.yml\n'),
      message: /SHA256SUMS line \d+ is not "<sha256> {2}<file>": copy dist\/<env> again, whole\./,
    },
    {
      name: 'a missing secret file',
      code: 2,
      prepare: (r) => rmSync(join(r.bundle, 'secrets', 'secret_key')),
      message: /secrets\/secret_key is missing/,
    },
    {
      name: 'no Docker on PATH (sh and coreutils only)',
      code: 2,
      prepare: () => undefined,
      env: (r) => ({ PATH: reducedPath(join(r.stateDir, '..'), COREUTILS) }),
      message: /Docker is not installed \(no docker on PATH\)/,
    },
    {
      name: 'not root while secrets must be chowned (run as nobody)',
      code: 2,
      prepare: (r) => {
        // nobody must reach the bundle to get as far as the root check.
        for (const dir of [join(r.bundle, '..'), join(r.stateDir, '..'), r.stateDir, join(r.stateDir, 'certs')]) chmodSync(dir, 0o755);
      },
      asUser: 65534,
      message:
        /must run as root: secret files and state folders must belong to uids 999 10001 472 59000 \(secret-owners.txt, host-setup.txt\); run it with sudo/,
    },
    {
      name: 'no certificate where nginx expects it',
      code: 2,
      prepare: (r) => rmSync(join(r.stateDir, 'certs', 'privkey.pem')),
      message: /certs\/privkey\.pem is missing: put the certificates in place first/,
    },
    {
      name: 'an engine that accepts and never answers (bounded by HEALTHMATE_ENGINE_TIMEOUT)',
      code: 1,
      prepare: () => undefined,
      env: () => ({ DOCKER_HOST: silent.unixUrl, HEALTHMATE_ENGINE_TIMEOUT: '2' }),
      message: /the Docker engine at unix:\/\/\S+\/silent\.sock did not answer docker version within 2s: check that it runs, or fix DOCKER_HOST\./,
    },
    { name: 'an unknown option', code: 2, prepare: () => undefined, args: ['--force'], message: /unknown option --force; see up.sh --help/ },
    { name: 'a bad --timeout', code: 2, prepare: () => undefined, args: ['--timeout', '5m'], message: /--timeout 5m is not a whole number of seconds/ },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name} with one sentence, exit ${refusal.code}, in a dry run and a real run alike, and changes nothing`, () => {
      const rendered = readyBundle();
      refusal.prepare(rendered);
      const env = refusal.env?.(rendered) ?? {};
      for (const mode of [['--dry-run'], []]) {
        const result = upSh(rendered.bundle, [...(refusal.args ?? []), ...mode], env, refusal.asUser);
        expect(result.code, result.stdout + result.stderr).toBe(refusal.code);
        const lines = result.stderr.trim().split('\n');
        expect(lines.at(-1)).toMatch(refusal.message);
        expect(lines.at(-1)).toMatch(/^up\.sh: [^\n]+[.]$/);
        if (refusal.stderr) expect(result.stderr).toMatch(refusal.stderr);
        expect(result.stdout).toBe('');
        expectNothingChanged(rendered);
      }
    });
  }

  it('a real run stops with exit 1 when the Docker engine cannot be reached, before changing anything', () => {
    const rendered = readyBundle();
    const result = upSh(rendered.bundle, []);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('the Docker engine at unix:///nonexistent/docker.sock cannot be reached');
    expectNothingChanged(rendered);
  });

  it('--help says what it does and what the scripted deploy adds', () => {
    const { bundle } = renderBundle('prod');
    const result = upSh(bundle, ['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: up.sh [--dry-run] [--timeout SECONDS]');
    expect(result.stdout).toMatch(/rolling update, rollback, deploy\s+lock, backup before migrations, audit log/);
  });
});
