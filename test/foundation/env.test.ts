import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_SECRET, envExampleText } from '../../scripts/lib/env/example.js';
import { EnvError, loadEnv } from '../../scripts/lib/env/load.js';
import { nonProductionDomainReason, weakSecretReason } from '../../scripts/lib/env/policy.js';
import { SECRET_NAMES } from '../../scripts/lib/env/schema.js';
import { parseVar, v } from '../../scripts/lib/env/spec.js';
import { redact } from '../../scripts/lib/log.js';
import { runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

const STRONG = 'Zq8v3LkP0sWn7YtR4bXe1HuC6mJa9FdG';

/** An env file for prod with every required variable set to a strong value. */
function requiredProdLines(): string[] {
  return envExampleText()
    .split('\n')
    .filter((line) => /^[A-Z]/.test(line))
    .map((line, i) => line.replace(EXAMPLE_SECRET, `${STRONG}${i}`).replace(/^DOMAIN=.*/, 'DOMAIN=api.healthmate.org'));
}

function strongProdFile(dir: string, extra = ''): string {
  const file = join(dir, '.env.prod');
  writeFileSync(file, `${requiredProdLines().join('\n')}\n${extra}`);
  return file;
}

function problemsOf(fn: () => unknown): EnvError['problems'] {
  try {
    fn();
  } catch (error) {
    if (error instanceof EnvError) return error.problems;
    throw error;
  }
  throw new Error('expected an EnvError');
}

describe('loadEnv', () => {
  it('applies precedence flag > process env > file > default', () => {
    const dir = tempDir();
    const file = strongProdFile(dir, 'BACKEND_REPLICAS=4\nNGINX_HTTP_PORT=8088\nNGINX_HTTPS_PORT=8443\n');
    const env = loadEnv({
      env: 'prod',
      envFile: file,
      purpose: 'apply',
      processEnv: { BACKEND_REPLICAS: '5', NGINX_HTTP_PORT: '8089' },
      overrides: { BACKEND_REPLICAS: '6' },
    });
    expect(env.values.BACKEND_REPLICAS).toBe(6);
    expect(env.origins.BACKEND_REPLICAS).toEqual({ kind: 'flag' });
    expect(env.values.NGINX_HTTP_PORT).toBe(8089);
    expect(env.origins.NGINX_HTTP_PORT).toEqual({ kind: 'process' });
    expect(env.values.NGINX_HTTPS_PORT).toBe(8443);
    expect(env.origins.NGINX_HTTPS_PORT).toEqual({ kind: 'file', file, line: expect.any(Number) });
    expect(env.values.POSTGRES_DB).toBe('healthmate');
    expect(env.origins.POSTGRES_DB).toEqual({ kind: 'default' });
  });

  it('uses per-environment defaults', () => {
    const empty = join(tempDir(), '.env.dev');
    writeFileSync(empty, '# nothing set\n');
    const dev = loadEnv({ env: 'dev', envFile: empty, purpose: 'plan', processEnv: {} });
    expect(dev.values.DOMAIN).toBe('localhost');
    expect(dev.values.BACKEND_REPLICAS).toBe(1);
  });

  it('reports every problem at once with variable, file and line', () => {
    const dir = tempDir();
    const file = strongProdFile(dir, 'NGINX_HTTP_PORT=abc\nBACKEND_REPLICAS=-1\nthis is not an assignment\nNOT_A_VARIABLE=1\n');
    const problems = problemsOf(() => loadEnv({ env: 'prod', envFile: file, purpose: 'plan', processEnv: {} }));
    const lines = problems.map((p) => `${p.variable ?? ''}@${p.line ?? ''}: ${p.message}`);
    const base = requiredProdLines().length;
    expect(lines).toEqual(
      expect.arrayContaining([
        `@${base + 3}: line ${base + 3} is not NAME=value; fix or remove it.`,
        `NOT_A_VARIABLE@${base + 4}: is not a known variable; remove it or check its spelling.`,
        `NGINX_HTTP_PORT@${base + 1}: must be a whole number (got "abc").`,
        `BACKEND_REPLICAS@${base + 2}: must be at least 1 (got "-1").`,
      ]),
    );
    expect(problems.every((p) => p.file === file)).toBe(true);
  });

  it('rejects an out-of-range port', () => {
    const dir = tempDir();
    const file = join(dir, '.env.dev');
    writeFileSync(file, 'NGINX_HTTP_PORT=99999\n');
    const problems = problemsOf(() => loadEnv({ env: 'dev', envFile: file, purpose: 'plan', processEnv: {} }));
    expect(problems).toEqual([{ variable: 'NGINX_HTTP_PORT', file, line: 1, message: 'must be at most 65535 (got "99999").' }]);
  });

  it('rejects a boolean that is neither true nor false', () => {
    const flag = v.bool({ description: 'test flag' });
    expect(parseVar(flag, 'yes')).toEqual({ ok: true, value: true });
    expect(parseVar(flag, 'maybe')).toEqual({ ok: false, message: 'must be true or false' });
  });

  it('treats an unknown variable as an error in prod and a warning in dev', () => {
    const dir = tempDir();
    const devFile = join(dir, '.env.dev');
    writeFileSync(devFile, 'TYPO_VARIABLE=1\n');
    const dev = loadEnv({ env: 'dev', envFile: devFile, purpose: 'plan', processEnv: {} });
    expect(dev.warnings.map((w) => w.variable)).toEqual(['TYPO_VARIABLE']);
    const prodFile = strongProdFile(dir, 'TYPO_VARIABLE=1\n');
    expect(problemsOf(() => loadEnv({ env: 'prod', envFile: prodFile, purpose: 'plan', processEnv: {} })).map((p) => p.variable)).toEqual(['TYPO_VARIABLE']);
  });

  it('requires secrets in prod and never echoes a secret value in a message', () => {
    const dir = tempDir();
    const file = join(dir, '.env.prod');
    writeFileSync(
      file,
      requiredProdLines()
        .filter((line) => !SECRET_NAMES.some((name) => line.startsWith(`${name}=`)))
        .join('\n'),
    );
    const problems = problemsOf(() => loadEnv({ env: 'prod', envFile: file, purpose: 'plan', processEnv: {} }));
    expect(problems.map((p) => p.variable).sort()).toEqual([...SECRET_NAMES].sort());
    expect(problems[0]?.message).toMatch(/required secret/);
  });

  it('refuses weak secrets and example domains when applying to prod, warns when planning', () => {
    const dir = tempDir();
    const file = join(dir, '.env.prod');
    writeFileSync(file, envExampleText());
    const applied = problemsOf(() => loadEnv({ env: 'prod', envFile: file, purpose: 'apply', processEnv: {} }));
    expect(applied.map((p) => p.variable).sort()).toEqual(['DOMAIN', ...SECRET_NAMES].sort());
    expect(applied.every((p) => p.line !== undefined)).toBe(true);
    const planned = loadEnv({ env: 'prod', envFile: file, purpose: 'plan', processEnv: {} });
    expect(planned.warnings.map((p) => p.variable).sort()).toEqual(['DOMAIN', ...SECRET_NAMES].sort());
  });

  it('registers secrets for redaction', () => {
    const dir = tempDir();
    const env = loadEnv({ env: 'prod', envFile: strongProdFile(dir), purpose: 'apply', processEnv: {} });
    const value = env.secrets.POSTGRES_PASSWORD as string;
    expect(redact(`url postgres://u:${value}@db`)).toBe('url postgres://u:***@db');
  });

  it('names a missing or unreadable env file', () => {
    const dir = tempDir();
    expect(() => loadEnv({ env: 'prod', envFile: join(dir, 'missing'), purpose: 'plan', processEnv: {} })).toThrow(/env file .*missing does not exist/);
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    chmodSync(folder, 0o700);
    expect(() => loadEnv({ env: 'prod', envFile: folder, purpose: 'plan', processEnv: {} })).toThrow(/env file .*a-folder is a folder, not a file/);
  });
});

describe('a control character in a secret', () => {
  // Secrets skip the quote rule and the schema takes any string: only the control-character rule refuses these.
  const HEAD = 'Zq8v3LkP';
  const TAIL = 'sWn7YtR4';
  const cases = [
    { name: 'REDIS_PASSWORD', char: '\u0001', code: 1 },
    { name: 'SECRET_KEY', char: '\u001b', code: 27 },
    // dotenv alone reads a lone CR as a line end: the secret would be cut to HEAD, silently.
    { name: 'POSTGRES_PASSWORD', char: '\r', code: 13 },
  ];
  const message = (code: number) => `holds a control character (code ${code}, e.g. a newline or tab); remove it.`;

  it.each(cases)('$name with code $code is refused from the env file, --set and the process environment', ({ name, char, code }) => {
    const secret = `${HEAD}${char}${TAIL}`;
    const file = join(tempDir(), '.env.dev');
    for (const written of [secret, `"${secret}"`]) {
      writeFileSync(file, `SMTP_USER=alerts@healthmate.org\n${name}=${written}\n`);
      const problems = problemsOf(() => loadEnv({ env: 'dev', envFile: file, purpose: 'plan', processEnv: {} }));
      expect(problems).toEqual([{ variable: name, file, line: 2, message: message(code) }]);
    }
    expect(problemsOf(() => loadEnv({ env: 'dev', overrides: { [name]: secret }, purpose: 'plan', processEnv: {} }))).toEqual([
      { variable: name, source: '--set', message: message(code) },
    ]);
    expect(problemsOf(() => loadEnv({ env: 'dev', purpose: 'plan', processEnv: { [name]: secret } }))).toEqual([
      { variable: name, source: 'the process environment', message: message(code) },
    ]);
  });

  it('an rclone line with a carriage return is refused too, not cut short', () => {
    const file = join(tempDir(), '.env.dev');
    writeFileSync(file, 'RCLONE_CONFIG_OFFSITE_TYPE=sftp\nRCLONE_CONFIG_OFFSITE_HOST=backup\r.example.org\n');
    expect(problemsOf(() => loadEnv({ env: 'dev', envFile: file, purpose: 'plan', processEnv: {} }))).toEqual([
      { variable: 'RCLONE_CONFIG_OFFSITE_HOST', file, line: 2, message: message(13) },
    ]);
  });

  it('a script names the variable with file:line, exits 2, changes nothing and never prints the secret', () => {
    const dir = tempDir();
    writeFileSync(join(dir, '.env.dev'), `# dev\nSMTP_USER=alerts@healthmate.org\nGRAFANA_ADMIN_PASSWORD=${HEAD}\u001b${TAIL}\n`);
    const result = runScript('render.ts', ['--env', 'dev', '--set', `STATE_DIR=${join(dir, 'state')}`], { cwd: dir, env: { NO_COLOR: '1' } });
    const output = result.stdout + result.stderr;
    expect(result.code, output).toBe(2);
    expect(result.stderr.split('\n').filter((line) => line.startsWith('error: '))).toEqual([`error: .env.dev:3: GRAFANA_ADMIN_PASSWORD ${message(27)}`]);
    expect(output).not.toContain(HEAD);
    expect(output).not.toContain(TAIL);
    expect(readdirSync(dir)).toEqual(['.env.dev']);
  });
});

describe('policy', () => {
  it.each([
    ['', 'is empty'],
    ['changeme-please-really-long', 'placeholder'],
    ['MyPassword2024!!xx', 'placeholder'],
    ['short1A', 'shorter than 16'],
    ['aaaaaaaaaaaaaaaaaaaaaaa', 'distinct'],
  ])('calls %j weak', (value, reason) => {
    expect(weakSecretReason(value)).toContain(reason);
  });

  it('accepts a random secret', () => {
    expect(weakSecretReason(STRONG)).toBeUndefined();
  });

  it.each(['localhost', 'api.localhost', 'example.com', 'api.example.org', 'host.test', 'box.local', '10.0.0.1'])(
    'refuses %s as a production domain',
    (domain) => {
      expect(nonProductionDomainReason(domain)).toBeDefined();
    },
  );

  it('accepts a real domain', () => {
    expect(nonProductionDomainReason('api.healthmate.org')).toBeUndefined();
  });
});
