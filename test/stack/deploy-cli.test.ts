import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, repoCopy, runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { exampleEnvFile } from './env.js';

// A dry run runs every area's validators (promtool, nginx -t, schemas): slow on a loaded 2-core machine.
const FULL_CHECK_MS = 300_000;
const GOLDEN = join(import.meta.dirname, 'golden', 'deploy-prod-dry-run.txt');

/** A production env file with strong random secrets, as init-env.ts writes it. */
function strongEnvFile(dir: string, edit: (text: string) => string = (t) => t): string {
  const result = runScript('init-env.ts', ['--env', 'prod', '--domain', 'api.healthmate.org'], { cwd: dir });
  expect(result.code, result.stderr).toBe(0);
  const file = join(dir, '.env.prod');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
  return file;
}

/** Everything under a folder (to prove nothing was created). */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

/** Stable text: temp paths, the release time and the Compose flavour normalised. */
function normalise(text: string, dir: string): string {
  return text
    .split(dir)
    .join('<TMP>')
    .replace(/\d{8}T\d{6}Z/g, '<TIME>')
    .replace(/docker compose |docker-compose /g, '<compose> ');
}

describe('deploy-prod.ts', () => {
  it('--dry-run on the example env prints the whole plan (golden), warns about example values, and changes nothing', { timeout: FULL_CHECK_MS }, () => {
    const dir = tempDir();
    const envFile = exampleEnvFile(dir);
    const state = join(dir, 'state');
    const result = runScript('deploy-prod.ts', ['--env-file', envFile, '--dry-run', '--set', `STATE_DIR=${state}`], { cwd: dir, timeoutMs: FULL_CHECK_MS });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/POSTGRES_PASSWORD looks like a placeholder/);
    expect(result.stderr).toMatch(/DOMAIN is a reserved name/);
    expect(result.stderr).toMatch(/dry run: steps 1-5 passed; nothing was changed/);
    expect(tree(state)).toEqual([]);
    expect(existsSync(join(dir, 'dist'))).toBe(false);
    const actual = normalise(result.stdout, dir);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, actual);
    expect(actual).toBe(readFileSync(GOLDEN, 'utf8'));
  });

  it('a missing image tag: one sentence, exit 2, nothing created', () => {
    const dir = tempDir();
    const envFile = strongEnvFile(dir, (t) => t.replace(/^BACKEND_TAG=.*$/m, ''));
    const state = join(dir, 'state');
    const result = runScript('deploy-prod.ts', ['--env-file', envFile, '--set', `STATE_DIR=${state}`], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/BACKEND_TAG is required in prod and is not set\./);
    expect(tree(state)).toEqual([]);
  });

  it('latest as the tag is refused before anything runs', () => {
    const dir = tempDir();
    const result = runScript('deploy-prod.ts', ['--env-file', strongEnvFile(dir), '--set', `STATE_DIR=${dir}/s`, '--set', 'BACKEND_TAG=latest'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/BACKEND_TAG \(from --set\) must be a version tag such as 1\.4\.2 \(not latest\)/);
  });

  it('an unreachable Docker engine: exit 2, nothing started, no lock left', () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const result = runScript('deploy-prod.ts', ['--env-file', strongEnvFile(dir), '--set', `STATE_DIR=${state}`], {
      cwd: dir,
      env: { DOCKER_HOST: `unix://${dir}/no-such-docker.sock` },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/error: the Docker engine at unix:\/\/.*no-such-docker\.sock cannot be reached; nothing was started or stopped\./);
    expect(tree(state)).toEqual(['deploy']);
    expect(existsSync(join(dir, 'dist'))).toBe(false);
  });

  it('a lock held by a live deploy: exit 2 naming the holder, the lock untouched', () => {
    const dir = tempDir();
    const deploy = join(dir, 'state', 'deploy');
    mkdirSync(deploy, { recursive: true });
    const owner = JSON.stringify({
      pid: process.pid,
      host: hostname(),
      user: 'alice',
      startedAt: '2026-01-01T00:00:00Z',
      purpose: 'deploy',
      version: '0.9.0',
      env: 'prod',
    });
    writeFileSync(join(deploy, 'lock.json'), owner);
    const result = runScript('deploy-prod.ts', ['--env-file', strongEnvFile(dir), '--set', `STATE_DIR=${dir}/state`], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /error: another deploy holds the lock on this machine: alice@.* \(pid \d+, deploy prod 0\.9\.0, since 2026-01-01T00:00:00Z\)\./,
    );
    expect(readFileSync(join(deploy, 'lock.json'), 'utf8')).toBe(owner);
    expect(tree(deploy)).toEqual(['lock.json']);
  });

  it('a render that fails check: exit 2 with the problem, nothing started', { timeout: FULL_CHECK_MS }, () => {
    const root = repoCopy(tempDir());
    // Validators of other areas read docs (runbook links).
    cpSync(join(REPO, 'docs'), join(root, 'docs'), { recursive: true });
    const composeFile = join(root, 'compose', 'docker-compose.prod.yml');
    writeFileSync(composeFile, readFileSync(composeFile, 'utf8').replace('image: "@@REDIS_IMAGE@@"', 'image: "redis:latest"'));
    const dir = tempDir();
    const result = runScript('deploy-prod.ts', ['--env-file', exampleEnvFile(dir), '--dry-run', '--set', `STATE_DIR=${dir}/state`], {
      root,
      cwd: dir,
      timeoutMs: FULL_CHECK_MS,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/service redis image redis:latest uses latest; pin a version/);
    expect(result.stderr).toMatch(/error: the rendered bundle fails check with \d+ errors/);
    expect(tree(join(dir, 'state'))).toEqual([]);
  });

  it('--skip-check with an unknown name: exit 2, one sentence listing the names, nothing created', () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const result = runScript('deploy-prod.ts', ['--env-file', exampleEnvFile(dir), '--dry-run', '--set', `STATE_DIR=${state}`, '--skip-check', 'nginx-t'], {
      cwd: dir,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /error: --skip-check "nginx-t" names no check; use one of: amtool, blackbox-exporter, docker-compose, haproxy, nginx, patroni, .*systemd-analyze\./,
    );
    expect(tree(state)).toEqual([]);
  });

  it('a connection budget PostgreSQL cannot hold: exit 2, says by how much', () => {
    const dir = tempDir();
    const result = runScript(
      'deploy-prod.ts',
      ['--env-file', exampleEnvFile(dir), '--dry-run', '--set', `STATE_DIR=${dir}/s`, '--set', 'POSTGRES_MAX_CONNECTIONS=100'],
      { cwd: dir },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/short by 247/);
  });

  it('--rollback without a previous release refuses; --target must be compose or k8s', () => {
    const dir = tempDir();
    const dry = runScript('deploy-prod.ts', ['--env-file', exampleEnvFile(dir), '--dry-run', '--rollback', '--set', `STATE_DIR=${dir}/s`], { cwd: dir });
    // The dry run refuses what the real run refuses (issue 16).
    expect(dry.code).toBe(2);
    expect(dry.stderr).toContain('no previous release is recorded');
    const bad = runScript('deploy-prod.ts', ['--target', 'swarm', '--dry-run']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--target must be one of compose, k8s, not "swarm"/);
  });

  it('--rollback --dry-run names the previous release (state.json previous), not the one running now', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 's', 'deploy'), { recursive: true });
    const state = { current: { release: 'r2', tag: '1.1.0', at: 't2' }, previous: { release: 'r1', tag: '1.0.0', at: 't1' } };
    writeFileSync(join(dir, 's', 'deploy', 'state.json'), JSON.stringify(state));
    const dry = runScript('deploy-prod.ts', ['--env-file', exampleEnvFile(dir), '--dry-run', '--rollback', '--set', `STATE_DIR=${dir}/s`], { cwd: dir });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('rollback plan: back to 1.0.0 (release r1)');
  });

  it('--status with a local engine: state, lock and audit of STATE_DIR/deploy, read only', () => {
    const dir = tempDir();
    const result = runScript('deploy-prod.ts', ['--env-file', exampleEnvFile(dir), '--status', '--set', `STATE_DIR=${dir}/s`], {
      cwd: dir,
      env: { DOCKER_HOST: `unix://${dir}/no-such-docker.sock` },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`deploy state: ${dir}/s/deploy`);
    expect(result.stdout).toMatch(/current: +\(none\)\nprevious: +\(none\)\nlock: +free\n/);
    expect(result.stdout).toMatch(/the Docker engine at unix:\/\/.*no-such-docker\.sock cannot be reached/);
    expect(tree(join(dir, 's'))).toEqual([]);
  });

  it.each([
    [['--status', '--rollback'], /--status and --rollback exclude each other; pass one\./],
    [['--status', '--dry-run'], /--dry-run does not apply with --status: --status only reads\./],
    [['--reason', 'x'], /--reason applies only with --force-unlock/],
    [['--force-unlock'], /--force-unlock needs --reason/],
    [['--force-unlock', '--reason', '  '], /--reason is empty; pass <text>\./],
  ])('bad lock/status options %j: one sentence, exit 2, nothing created', (args, message) => {
    const dir = tempDir();
    const result = runScript('deploy-prod.ts', ['--env-file', exampleEnvFile(dir), '--set', `STATE_DIR=${dir}/s`, ...args], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(tree(join(dir, 's'))).toEqual([]);
  });

  it('--target k8s hands over to deploy-k8s.ts with the other arguments', () => {
    const dir = tempDir();
    const result = runScript('deploy-prod.ts', ['--target', 'k8s', '--env-file', exampleEnvFile(dir), '--dry-run', '--set', `STATE_DIR=${dir}/s`], {
      cwd: dir,
    });
    // deploy-k8s.ts refuses to guess a Kubernetes context: its own one-sentence error and exit code.
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no Kubernetes context is named/);
  });

  it('--help documents every option', () => {
    const result = runScript('deploy-prod.ts', ['--help']);
    expect(result.code).toBe(0);
    for (const option of ['--dry-run', '--skip-backup', '--rollback', '--status', '--force-unlock', '--reason', '--target', '--env-file', '--set'])
      expect(result.stdout).toContain(option);
  });
});

describe('deploy-dev.ts', () => {
  it('--dry-run renders and checks dev, prints the plan, changes nothing', { timeout: FULL_CHECK_MS }, () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const result = runScript('deploy-dev.ts', ['--dry-run', '--set', `STATE_DIR=${state}`], { cwd: dir, timeoutMs: FULL_CHECK_MS });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('up -d --remove-orphans');
    expect(tree(state)).toEqual([]);
  });
});
