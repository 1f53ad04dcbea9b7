import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needTool } from '../helpers/tools.js';
import { docker } from './harness/docker.js';
import { type Dockerd, startDockerd } from './harness/dockerd.js';
import { buildStandIns, type StandInImages } from './harness/images.js';
import { auditLines } from './harness/probe.js';
import { prepareStack, removeProject, type Stack } from './harness/stack.js';

/**
 * The deploy's check step runs nginx -t, promtool, amtool, blackbox, haproxy -c
 * and patroni --validate-config from the very images the stack runs (the
 * stand-ins), through the engine
 * DOCKER_HOST names: a bundle those tools refuse stops the deploy before
 * anything changes, and a check that cannot run stops it unless skipped.
 */
describe('deploy-prod.ts checks the bundle in the stack images', () => {
  let daemon: Dockerd;
  let images: StandInImages;
  let stack: Stack;
  const GZIP_CONF = 'nginx/conf.d/gzip.conf';
  let goodGzip: string;

  const deploy = (extra: string[]): ReturnType<Stack['run']> =>
    stack.run('deploy-prod.ts', ['--env', 'prod', '--env-file', stack.envFile, '--skip-backup', ...extra], 600_000);
  const projectContainers = (): string[] =>
    docker(daemon, ['ps', '-aq', '--filter', `label=com.docker.compose.project=${stack.project}`])
      .split('\n')
      .filter(Boolean);
  const releases = (): string[] => {
    const dir = join(stack.stateDir, 'deploy', 'releases');
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  beforeAll(async () => {
    needTool('docker-compose');
    daemon = await startDockerd();
    images = await buildStandIns(daemon, (line) => console.log(`e2e: ${line}`));
    stack = await prepareStack(daemon, images, { env: 'prod', vars: { BACKEND_TAG: '1.0.0' } });
    goodGzip = readFileSync(join(stack.repo, GZIP_CONF), 'utf8');
  });

  afterAll(async () => {
    if (daemon) {
      if (stack) removeProject(daemon, stack.project);
      await daemon.stop();
    }
  });

  it('a dry run with the engine runs every tool check in its image and passes on a good bundle', () => {
    const result = deploy(['--dry-run']);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    for (const label of [
      'nginx -t in the nginx image',
      'promtool check config prometheus.yml (and its rules) in the prometheus image',
      'promtool test rules (the repo unit tests against the rendered rules) in the prometheus image',
      'amtool check-config in the alertmanager image',
      'blackbox_exporter --config.check in the blackbox-exporter image',
      'haproxy -c in the haproxy image',
      'patroni --validate-config in the postgres image',
    ])
      expect(result.stderr).toContain(label);
    expect(result.stderr).not.toMatch(/checks with the local tools/);
    expect(projectContainers()).toEqual([]);
    // Every check container is gone again.
    expect(docker(daemon, ['ps', '-aq'])).toBe('');
  });

  it('a bundle the nginx image refuses stops the deploy at the check: exit 2, nothing started, no release kept, audit records it', () => {
    writeFileSync(join(stack.repo, GZIP_CONF), `${goodGzip}\ngzip_bogus_level 5;\n`);
    try {
      const result = deploy([]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/nginx -t in the nginx image failed:[\s\S]*unknown directive "gzip_bogus_level"/);
      expect(result.stderr).toMatch(/error: the rendered bundle fails check with 1 errors \(listed above\); nothing was started or stopped\./);
      expect(projectContainers()).toEqual([]);
      expect(existsSync(join(stack.stateDir, 'deploy', 'current'))).toBe(false);
      expect(releases()).toEqual([]);
      expect(auditLines(stack.stateDir).at(-1)).toMatchObject({ result: 'failed', error: expect.stringMatching(/^step 4 \(check\)/) });
    } finally {
      writeFileSync(join(stack.repo, GZIP_CONF), goodGzip);
    }
  });

  it('a haproxy.cfg the haproxy image refuses and a patroni.yml the postgres image refuses stop the deploy at the check: exit 2, nothing started', () => {
    const files = { haproxy: 'compose/haproxy/prod/haproxy.cfg', patroni: 'compose/patroni/prod/patroni.yml' };
    const good = Object.fromEntries(Object.entries(files).map(([name, file]) => [name, readFileSync(join(stack.repo, file), 'utf8')]));
    writeFileSync(join(stack.repo, files.haproxy), (good.haproxy as string).replace('balance roundrobin', 'balance round-robin'));
    writeFileSync(join(stack.repo, files.patroni), (good.patroni as string).replace("mode: 'off'", "mode: 'sometimes'"));
    try {
      const result = deploy([]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/haproxy -c in the haproxy image failed:[\s\S]*balance only supports/);
      expect(result.stderr).toMatch(/patroni --validate-config in the postgres image failed:[\s\S]*watchdog\.mode sometimes didn't pass validation/);
      expect(result.stderr).toMatch(/error: the rendered bundle fails check with 2 errors \(listed above\); nothing was started or stopped\./);
      expect(projectContainers()).toEqual([]);
      expect(docker(daemon, ['ps', '-aq'])).toBe('');
    } finally {
      for (const [name, file] of Object.entries(files)) writeFileSync(join(stack.repo, file), good[name] as string);
    }
  });

  it('an image that cannot be pulled: the check cannot run, exit 1 naming --skip-check; with --skip-check the deploy goes on and the audit log records the skip', () => {
    const missing = ['--set', 'ALERTMANAGER_IMAGE=healthmate-e2e/alertmanager:not-built'];
    const stopped = deploy(missing);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toMatch(
      /amtool check-config in the alertmanager image cannot run: image healthmate-e2e\/alertmanager:not-built is not on the engine/,
    );
    expect(stopped.stderr).toMatch(/error: .*the bundle check could not run amtool \(see above\); nothing was started or stopped\./);
    expect(stopped.stderr).toMatch(/--skip-check amtool/);
    expect(projectContainers()).toEqual([]);

    // Skipped: the check step passes; the deploy then stops where the image is needed (pull), before any container starts.
    const skipped = deploy([...missing, '--skip-check', 'amtool']);
    expect(skipped.code, skipped.stderr).toBe(1);
    expect(skipped.stderr).toMatch(/skipped by --skip-check amtool/);
    expect(skipped.stderr).toMatch(/images cannot be pulled and are not on the engine: .*healthmate-e2e\/alertmanager:not-built/);
    expect(auditLines(stack.stateDir).at(-1)).toMatchObject({ skippedChecks: ['amtool'], error: expect.stringMatching(/^step 7 \(pull\)/) });
    expect(projectContainers()).toEqual([]);
  });
});
