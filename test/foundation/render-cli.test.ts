import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBundle } from '../../scripts/lib/render/bundle.js';
import { REPO, repoCopy, runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

const EXAMPLE = join(REPO, '.env.example');

/** sha256 of every file in a folder, keyed by relative path. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    listBundle(dir).map((f) => [
      f,
      createHash('sha256')
        .update(readFileSync(join(dir, f)))
        .digest('hex'),
    ]),
  );
}

function render(out: string, extra: string[] = [], root?: string) {
  return runScript(
    'render.ts',
    ['--env', 'prod', '--env-file', EXAMPLE, '--out', out, '--set', `STATE_DIR=${join(out, 'state')}`, ...extra],
    root ? { root } : {},
  );
}

describe('render.ts', () => {
  it('renders a deterministic bundle with secrets only in 0600 files', () => {
    const out = tempDir();
    const first = render(out);
    expect(first.code, first.stderr).toBe(0);
    const bundle = join(out, 'prod');
    const before = snapshot(bundle);
    expect(Object.keys(before)).toContain('MANIFEST.json');
    const again = render(out);
    expect(again.code, again.stderr).toBe(0);
    expect(snapshot(bundle)).toEqual(before);

    expect(statSync(join(bundle, 'secrets')).mode & 0o777).toBe(0o700);
    const secretFiles = readdirSync(join(bundle, 'secrets'));
    expect(secretFiles).toContain('postgres_password');
    for (const file of secretFiles) expect(statSync(join(bundle, 'secrets', file)).mode & 0o777).toBe(0o600);

    const manifest = JSON.parse(readFileSync(join(bundle, 'MANIFEST.json'), 'utf8'));
    expect(manifest.env).toBe('prod');
    expect(manifest.commit).toMatch(/^[0-9a-f]{40}(-dirty)?$|^unknown$/);
    const listed = manifest.files.map((f: { path: string }) => f.path).sort();
    // SHA256SUMS covers MANIFEST.json, so the manifest cannot list it.
    expect(listed).toEqual(
      Object.keys(before)
        .filter((f) => f !== 'MANIFEST.json' && f !== 'SHA256SUMS')
        .sort(),
    );
    for (const f of manifest.files) {
      if (f.secret) expect(f.sha256).toBeUndefined();
      else if (f.path !== 'MANIFEST.json') expect(f.sha256).toBe(before[f.path]);
    }
    // The example secret placeholder is a warning in a prod render, never printed.
    expect(first.stderr).toContain('warning: ');
    expect(first.stderr).not.toContain('changeme-generate-with-init-env');
  });

  it('--check reports drift and exits 1, and 0 on a fresh bundle', () => {
    const out = tempDir();
    expect(render(out).code).toBe(0);
    expect(render(out, ['--check']).code).toBe(0);
    const target = listBundle(join(out, 'prod')).find((f) => !f.startsWith('secrets/') && f !== 'MANIFEST.json') ?? 'MANIFEST.json';
    appendFileSync(join(out, 'prod', target), '\n# edited by hand\n');
    writeFileSync(join(out, 'prod', 'stray.txt'), 'x');
    const drift = render(out, ['--check']);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toContain(`changed: ${target}`);
    expect(drift.stdout).toContain('extra: stray.txt');
  });

  it('--dry-run writes nothing', () => {
    const out = tempDir();
    const result = render(out, ['--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('would write');
    expect(readdirSync(out)).toEqual([]);
  });

  it('leaves the previous bundle untouched when a template is broken', () => {
    const root = repoCopy(tempDir());
    const out = tempDir();
    expect(render(out, [], root).code).toBe(0);
    const before = snapshot(join(out, 'prod'));
    mkdirSync(join(root, 'nginx'), { recursive: true });
    writeFileSync(join(root, 'nginx', 'broken.conf'), 'server_name @@DOMAIN@@;\nlisten @@NO_SUCH_VARIABLE@@;\nroot @@STATE_DIR\n');
    const failed = render(out, [], root);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('nginx/broken.conf:2: unknown placeholder @@NO_SUCH_VARIABLE@@');
    expect(failed.stderr).toContain('nginx/broken.conf:3: unterminated or malformed placeholder');
    expect(failed.stderr).not.toMatch(/\n\s+at /);
    expect(snapshot(join(out, 'prod'))).toEqual(before);
    expect(readdirSync(out).sort()).toEqual(['prod', 'state'].filter((d) => readdirSync(out).includes(d)).sort());
  });
});

describe('bad input: exit 2, one sentence, dist untouched', () => {
  function expectBadInput(result: { code: number; stderr: string }, pattern: RegExp, out: string): void {
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(pattern);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(out)).toEqual([]);
  }

  it('missing env file', () => {
    const out = tempDir();
    const cwd = tempDir();
    expectBadInput(runScript('render.ts', ['--env', 'prod', '--out', out], { cwd }), /env file \.env\.prod does not exist/, out);
  });

  it('missing env file named by --env-file', () => {
    // Node 20 itself scans argv for --env-file, even after the script name, and
    // stops with exit 9 before any script code runs when the file is missing
    // (fixed in Node 22, where the script's own exit 2 applies).
    const out = tempDir();
    const missing = join(out, '..', 'no-such.env');
    const result = runScript('render.ts', ['--env', 'prod', '--env-file', missing, '--out', out]);
    expect([2, 9]).toContain(result.code);
    expect(result.stderr).toContain('no-such.env');
    expect(readdirSync(out)).toEqual([]);
  });

  it('unreadable env file', () => {
    const out = tempDir();
    const cwd = tempDir();
    mkdirSync(join(cwd, '.env.prod'));
    expectBadInput(runScript('render.ts', ['--env', 'prod', '--out', out], { cwd }), /env file \.env\.prod is a folder, not a file\./, out);
  });

  function withFile(lines: string): string {
    const file = join(tempDir(), '.env.test');
    writeFileSync(file, `${readFileSync(EXAMPLE, 'utf8')}\n${lines}\n`);
    return file;
  }

  it.each([
    ['malformed line', 'this line has no equals sign', /is not NAME=value/],
    ['unknown variable', 'NOT_IN_SCHEMA=1', /NOT_IN_SCHEMA is not a known variable/],
    ['wrong port type', 'NGINX_HTTP_PORT=abc', /NGINX_HTTP_PORT must be a whole number \(got "abc"\)/],
    ['negative replicas', 'BACKEND_REPLICAS=-1', /BACKEND_REPLICAS must be at least 1/],
  ])('%s', (_name, line, pattern) => {
    const out = tempDir();
    expectBadInput(runScript('render.ts', ['--env', 'prod', '--env-file', withFile(line), '--out', out]), pattern, out);
  });

  it('missing required secret', () => {
    const out = tempDir();
    const file = join(tempDir(), '.env.prod');
    writeFileSync(file, readFileSync(EXAMPLE, 'utf8').replace(/^POSTGRES_PASSWORD=.*$/m, ''));
    expectBadInput(runScript('render.ts', ['--env', 'prod', '--env-file', file, '--out', out]), /POSTGRES_PASSWORD is a required secret and is not set/, out);
  });

  it('unknown option', () => {
    const out = tempDir();
    expectBadInput(runScript('render.ts', ['--env', 'prod', '--frobnicate', '--out', out]), /unknown option --frobnicate\./, out);
  });

  it('unknown environment', () => {
    const out = tempDir();
    expectBadInput(runScript('render.ts', ['--env', 'staging', '--out', out]), /--env must be one of dev, prod, not "staging"/, out);
  });

  it('output folder not writable', () => {
    const parent = tempDir();
    const file = join(parent, 'a-file');
    writeFileSync(file, 'x');
    const result = runScript('render.ts', ['--env', 'prod', '--env-file', EXAMPLE, '--out', join(file, 'dist')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--out .*a-file\/dist" is below .*a-file, which is a file, not a folder/);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });
});
