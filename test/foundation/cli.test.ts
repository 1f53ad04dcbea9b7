import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXAMPLE_SECRET } from '../../scripts/lib/env/example.js';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { log, registerSecret } from '../../scripts/lib/log.js';
import { REPO, runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

afterEach(() => vi.restoreAllMocks());

/** What the process writes to stderr and stdout from now on, in order (restored after the test). */
function captureOutput(): string[] {
  const written: string[] = [];
  for (const stream of [process.stderr, process.stdout])
    vi.spyOn(stream, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
  return written;
}

describe('logger', () => {
  it('redacts secrets in every line it prints, child output included', () => {
    const written = captureOutput();
    registerSecret('s3cr3t-value-for-test');
    registerSecret('s3cr3t-value-for-test-longer');
    log.info('connecting with s3cr3t-value-for-test');
    log.passthrough('pg_dump: password s3cr3t-value-for-test-longer rejected\n');
    log.out('{"password":"s3cr3t-value-for-test"}');
    expect(written.join('')).toBe('connecting with ***\npg_dump: password *** rejected\n{"password":"***"}\n');
  });

  it('redacts every occurrence on a line, and a secret inside another secret, on every channel', () => {
    const written = captureOutput();
    // The short one is a substring of the long one (a password reused as part of a URL secret).
    registerSecret('Rk7-twice-9Qz');
    registerSecret('https://u:Rk7-twice-9Qz@host/x');
    log.info('user=Rk7-twice-9Qz pass=Rk7-twice-9Qz');
    log.warn('Rk7-twice-9QzRk7-twice-9Qz');
    log.error('dsn https://u:Rk7-twice-9Qz@host/x, again https://u:Rk7-twice-9Qz@host/x, then Rk7-twice-9Qz');
    log.passthrough('line one Rk7-twice-9Qz Rk7-twice-9Qz\nline two Rk7-twice-9Qz\n');
    log.out('{"a":"Rk7-twice-9Qz","b":"Rk7-twice-9Qz"}');
    expect(written.join('')).toBe(
      ['user=*** pass=***', 'warning: ******', 'error: dsn ***, again ***, then ***', 'line one *** ***', 'line two ***', '{"a":"***","b":"***"}', ''].join(
        '\n',
      ),
    );
  });
});

describe('--help', () => {
  it.each(['render.ts', 'check.ts', 'init-env.ts', 'env-example.ts'])('%s prints usage and exits 0', (script) => {
    const result = runScript(script, ['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npx tsx scripts\//);
    expect(result.stdout).toContain('Exit codes: 0 success, 1 operation failed, 2 bad usage or bad input.');
    // Node 20 exits 9 on a missing or folder --env-file before the script can say anything: the help says it.
    if (script === 'init-env.ts') expect(result.stdout).toMatch(/--out <file>.*Node 20 claims --env-file/);
    else if (script !== 'env-example.ts') expect(result.stdout).toContain('Node 20 reads --env-file itself');
  });
});

describe('init-env.ts', () => {
  it('writes a 0600 env file with strong random secrets that a prod deploy accepts', () => {
    const dir = tempDir();
    const file = join(dir, '.env.prod');
    // Default path in the working directory: Node 20 refuses a missing file named by --env-file.
    const result = runScript('init-env.ts', ['--env', 'prod', '--domain', 'api.healthmate.org'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const env = loadEnv({ env: 'prod', envFile: file, purpose: 'apply', processEnv: {} });
    const secrets = Object.values(env.secrets);
    expect(secrets.length).toBeGreaterThan(0);
    expect(new Set(secrets).size).toBe(secrets.length);
    for (const value of secrets) expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(result.stderr + result.stdout).not.toContain(secrets[0]);
  });

  it('writes --out FILE with the values of --domain and --set, which the other scripts read back', () => {
    const dir = tempDir();
    const file = join(dir, 'custom.env');
    const state = join(dir, 'srv');
    const result = runScript(
      'init-env.ts',
      ['--env', 'prod', '--out', file, '--domain', 'api.healthmate.org', '--set', `STATE_DIR=${state}`, '--set', 'BACKEND_REPLICAS=5'],
      { cwd: dir },
    );
    expect(result.code, result.stderr).toBe(0);
    const env = loadEnv({ env: 'prod', envFile: file, purpose: 'apply', processEnv: {} });
    expect(env.values.DOMAIN).toBe('api.healthmate.org');
    expect(env.values.STATE_DIR).toBe(state);
    expect(env.values.BACKEND_REPLICAS).toBe(5);
    expect(env.origins.BACKEND_REPLICAS).toMatchObject({ kind: 'file', file });
  });

  it('never overwrites an existing file', () => {
    const dir = tempDir();
    const file = join(dir, '.env.prod');
    writeFileSync(file, 'DOMAIN=keep.me\n');
    const result = runScript('init-env.ts', ['--env', 'prod', '--out', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('already exists; it is never overwritten.');
    expect(readFileSync(file, 'utf8')).toBe('DOMAIN=keep.me\n');
  });
});

describe('check.ts', () => {
  // Each run renders and calls every area's real tools (nginx -t, promtool, amtool, docker-compose, ...).
  it.each(['prod', 'dev'])(
    'passes on the %s render of .env.example',
    (env) => {
      const state = join(tempDir(), 'state');
      const result = runScript('check.ts', ['--env', env, '--env-file', join(REPO, '.env.example'), '--set', `STATE_DIR=${state}`], { timeoutMs: 290_000 });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      // .env.example's placeholder secrets and example domain are prod warnings, counted in the summary.
      expect(result.stdout).toMatch(
        env === 'prod' ? /check: \d+ validators, 0 errors, [1-9]\d* warnings \([1-9]\d* from the env\)/ : /check: \d+ validators, 0 errors, 0 warnings$/m,
      );
    },
    300_000,
  );

  it('fails with file and line on a leaked secret and broken YAML in a bundle', () => {
    const out = tempDir();
    const state = join(out, 'state');
    const example = join(REPO, '.env.example');
    expect(runScript('render.ts', ['--env', 'dev', '--env-file', example, '--out', out, '--set', `STATE_DIR=${state}`]).code).toBe(0);
    const bundle = join(out, 'dev');
    writeFileSync(join(bundle, 'leak.yml'), `ok: 1\npassword: ${EXAMPLE_SECRET}\nbroken: [\n`);
    const result = runScript('check.ts', ['--env', 'dev', '--env-file', example, '--bundle', bundle, '--set', `STATE_DIR=${state}`]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('error: [secret leak scan] leak.yml:2: contains a secret value');
    expect(result.stdout).toMatch(/error: \[YAML and JSON syntax\] leak\.yml:\d+: invalid YAML/);
    expect(result.stdout + result.stderr).not.toContain(EXAMPLE_SECRET);
  });
});
