import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runImageCheck } from '../../scripts/lib/check/in-image.js';
import { checkNames, runValidators } from '../../scripts/lib/check/runner.js';
import type { CheckContext, ImageCheck, Validator } from '../../scripts/lib/check/types.js';
import { docker } from '../e2e/harness/docker.js';
import { tempDir } from '../helpers/tmp.js';
import { privateEngine } from './engine.js';
import { testEnv } from './env.js';

/**
 * The mechanics of the deploy's in-image checks against a real engine (a
 * private dockerd, busybox as the "tool image"): the container sees the bundle
 * where compose mounts it, secrets only as empty placeholders, runs with no
 * network, and leaves no container and no temp folder. The real tools in the
 * stack's images are proven by test/e2e/check.test.ts.
 */
const engine = privateEngine();
const SECRET = 'Real-Smtp-Secret-9f3b1c';

/** A bundle whose "nginx" service runs the busybox image, with a config folder, a host-path mount and a secret. */
function bundle(serviceImage = engine.image): CheckContext {
  const dir = tempDir();
  mkdirSync(join(dir, 'nginx'));
  writeFileSync(join(dir, 'nginx', 'nginx.conf'), 'events {}\n');
  mkdirSync(join(dir, 'secrets'), { mode: 0o700 });
  writeFileSync(join(dir, 'secrets', 'smtp_password'), SECRET, { mode: 0o600 });
  writeFileSync(
    join(dir, 'docker-compose.yml'),
    [
      'services:',
      '  nginx:',
      `    image: "${serviceImage}"`,
      '    secrets: [smtp_password]',
      '    volumes:',
      '      - ./nginx:/etc/nginx:ro',
      '      - /var/lib/healthmate/certs:/etc/nginx/certs:ro',
      '  backend:',
      `    image: "${serviceImage}"`,
      'secrets:',
      '  smtp_password:',
      '    file: ./secrets/smtp_password',
      '',
    ].join('\n'),
  );
  return { bundleDir: dir, env: testEnv('prod').env, files: ['docker-compose.yml', 'nginx/nginx.conf', 'secrets/smtp_password'], secretValues: [SECRET] };
}

const shellCheck = (script: string, extra: Partial<ImageCheck> = {}): ImageCheck => ({
  name: 'nginx',
  label: 'test check in the nginx image',
  service: 'nginx',
  entrypoint: '/bin/sh',
  args: ['-c', script],
  ...extra,
});

const leftovers = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('healthmate-image-check-'));
const containers = (): string[] => docker(engine.daemon, ['ps', '-aq']).split('\n').filter(Boolean);

describe('in-image checks (real engine)', () => {
  it('sees the bundle where compose mounts it, secrets only as empty placeholders, no network, every service name resolvable', async () => {
    const before = leftovers();
    const script = [
      'test -f /etc/nginx/nginx.conf',
      // The image's own default config is hidden, as the bind mount of /etc/nginx hides it.
      'test ! -e /etc/nginx/conf.d/default.conf',
      'test -d /etc/nginx/certs',
      'test -f /run/secrets/smtp_password',
      'test ! -s /run/secrets/smtp_password',
      `! grep -rq ${SECRET} /etc /run`,
      'test -f /extra/file.txt',
      'test -d /var/cache/nginx',
      'grep -q "127.0.0.1.*backend" /etc/hosts',
      'test "$(ls /sys/class/net)" = lo',
    ].join(' && ');
    const outcome = await runImageCheck(shellCheck(script, { files: () => ({ '/extra/file.txt': 'x' }), dirs: ['/var/cache/nginx'] }), bundle());
    expect(outcome).toEqual({ status: 'ok' });
    expect(containers()).toEqual([]);
    expect(docker(engine.daemon, ['volume', 'ls', '-q'])).toBe('');
    expect(leftovers()).toEqual(before);
  });

  it('reports the tool output when the tool refuses the bundle', async () => {
    const outcome = await runImageCheck(shellCheck('echo "nginx: [emerg] unknown directive in /etc/nginx/nginx.conf:1" >&2; exit 1'), bundle());
    expect(outcome).toEqual({ status: 'failed', output: 'nginx: [emerg] unknown directive in /etc/nginx/nginx.conf:1' });
    expect(containers()).toEqual([]);
  });

  it('builds the image of a service the deploy builds (the postgres image) when it is not on the engine, and checks in it', async () => {
    const ctx = bundle('healthmate-test/built-by-the-check:1.0');
    mkdirSync(join(ctx.bundleDir, 'img'));
    writeFileSync(join(ctx.bundleDir, 'img', 'Dockerfile'), `FROM ${engine.image}\nRUN touch /built-here\n`);
    const compose = join(ctx.bundleDir, 'docker-compose.yml');
    writeFileSync(compose, readFileSync(compose, 'utf8').replace('  nginx:\n', '  nginx:\n    build: ./img\n'));
    expect(await runImageCheck(shellCheck('test -f /built-here'), ctx)).toEqual({ status: 'ok' });
    expect(docker(engine.daemon, ['image', 'ls', '-q', 'healthmate-test/built-by-the-check:1.0'])).not.toBe('');
    expect(containers()).toEqual([]);
  });

  it('cannot run when the image is neither on the engine nor pullable; a service the bundle lacks needs no check', async () => {
    const outcome = await runImageCheck(shellCheck('true'), bundle('healthmate-test/no-such-image:1.0'));
    expect(outcome.status).toBe('cannot-run');
    expect(outcome.status === 'cannot-run' && outcome.reason).toMatch(/^image healthmate-test\/no-such-image:1\.0 is not on the engine and cannot be pulled: /);
    expect(await runImageCheck(shellCheck('true', { service: 'blackbox-exporter' }), bundle())).toEqual({ status: 'not-needed' });
  });
});

describe('the deploy check: strict, --skip-check', () => {
  const validator = (checks: ImageCheck[]): Validator => ({
    name: 'nginx -t',
    run: () => {
      throw new Error('the local tool must not run in the deploy');
    },
    inImage: checks,
  });

  it('a check that cannot run is an error naming it; --skip-check leaves it out with a warning and records it', async () => {
    const ctx = bundle('healthmate-test/no-such-image:1.0');
    const strict = await runValidators(ctx, [validator([shellCheck('true')])], { inImage: true, strict: true });
    expect(strict.cannotRun).toEqual(['nginx']);
    expect(strict.errors).toBe(1);
    expect(strict.results[0]?.problems[0]?.message).toMatch(/^test check in the nginx image cannot run: image healthmate-test\/no-such-image:1\.0 is not on/);
    const skipped = await runValidators(ctx, [validator([shellCheck('true')])], { inImage: true, strict: true, skip: new Set(['nginx']) });
    expect(skipped).toMatchObject({ errors: 0, warnings: 1, cannotRun: [], skipped: ['nginx'] });
  });

  it('a failed check is a plain error, not a check that could not run', async () => {
    const report = await runValidators(bundle(), [validator([shellCheck('exit 3')])], { inImage: true, strict: true });
    expect(report).toMatchObject({ errors: 1, cannotRun: [], skipped: [] });
  });

  it('a missing local tool stops the deploy (strict) unless skipped; check.ts outside CI only warns', async () => {
    const needsTool: Validator = {
      name: 'backup systemd units',
      tools: ['systemd-analyze'],
      run: async () => {
        const { ToolMissingError } = await import('../../scripts/lib/tools.js');
        throw new ToolMissingError('systemd-analyze');
      },
    };
    const ctx = bundle();
    expect(await runValidators(ctx, [needsTool], { strict: true })).toMatchObject({ errors: 1, cannotRun: ['systemd-analyze'] });
    expect(await runValidators(ctx, [needsTool], { strict: true, skip: new Set(['systemd-analyze']) })).toMatchObject({
      errors: 0,
      skipped: ['systemd-analyze'],
    });
    const saved = process.env.CI;
    delete process.env.CI;
    try {
      expect(await runValidators(ctx, [needsTool])).toMatchObject({ errors: 0, warnings: 1, cannotRun: [] });
    } finally {
      if (saved !== undefined) process.env.CI = saved;
    }
  });

  it('--skip-check accepts the in-image check names and the local tools', () => {
    expect(checkNames()).toEqual(expect.arrayContaining(['nginx', 'promtool', 'amtool', 'blackbox-exporter', 'docker-compose', 'systemd-analyze']));
  });
});
