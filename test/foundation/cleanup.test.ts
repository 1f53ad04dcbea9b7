import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, SCRIPT_TIMEOUT_MS } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * A script that registers a temp folder holding a 0600 secret file, then ends
 * in `ending`; prints the folder's path first.
 */
function runEnding(ending: string): { code: number | null; stderr: string; folder: string } {
  const dir = tempDir();
  const script = join(dir, 'ending.mts');
  writeFileSync(
    script,
    [
      "import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';",
      "import { tmpdir } from 'node:os';",
      "import { join } from 'node:path';",
      `import { addCleanup } from ${JSON.stringify(join(REPO, 'scripts', 'lib', 'cleanup.ts'))};`,
      "const folder = mkdtempSync(join(tmpdir(), 'healthmate-pgpass-'));",
      "writeFileSync(join(folder, 'pgpass'), '*:*:*:u:secret\\n', { mode: 0o600 });",
      'addCleanup(() => rmSync(folder, { recursive: true, force: true }));',
      "process.stdout.write(folder + '\\n');",
      ending,
      '',
    ].join('\n'),
  );
  const result = spawnSync(join(REPO, 'node_modules', '.bin', 'tsx'), [script], { cwd: dir, encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS });
  return { code: result.status, stderr: result.stderr, folder: result.stdout.trim() };
}

describe('cleanup registry when runCli cannot finish', () => {
  it.each([
    ['an exception thrown in a callback', "setTimeout(() => { throw new Error('crash in a callback'); }, 10);", 1],
    ['process.exit', 'setTimeout(() => process.exit(3), 10);', 3],
    ['a promise nobody settles', 'await new Promise(() => undefined);', 13],
  ])('removes the secret temp folder after %s', (_name, ending, code) => {
    const result = runEnding(ending);
    expect(result.folder).toMatch(/healthmate-pgpass-/);
    expect(result.code, result.stderr).toBe(code);
    expect(existsSync(result.folder)).toBe(false);
  });
});
