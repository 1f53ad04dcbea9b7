import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, SCRIPT_TIMEOUT_MS } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

/** The suite teardown (test/leftovers.ts) on a tiny suite of its own: a leaking test fails the run. */
function runSuite(testBody: string): { code: number; output: string } {
  const dir = tempDir();
  writeFileSync(
    join(dir, 'vitest.config.mjs'),
    `export default { test: { globals: true, include: ['probe.test.mjs'], globalSetup: [${JSON.stringify(join(REPO, 'test', 'leftovers.ts'))}] } };\n`,
  );
  writeFileSync(
    join(dir, 'probe.test.mjs'),
    `import { mkdtempSync } from 'node:fs';\nimport { tmpdir } from 'node:os';\nimport { join } from 'node:path';\ntest('probe', () => {\n${testBody}\n});\n`,
  );
  const result = spawnSync(join(REPO, 'node_modules', '.bin', 'vitest'), ['run', '--root', dir, '--config', join(dir, 'vitest.config.mjs')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: SCRIPT_TIMEOUT_MS,
  });
  return { code: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
}

describe('test-run leftovers check', () => {
  it('fails a run whose test leaves a healthmate-* temp folder, naming it', () => {
    const result = runSuite("mkdtempSync(join(tmpdir(), 'healthmate-leak-'));");
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/the test run left behind:\s+temp folder \/tmp\/vt-\w+\/healthmate-leak-\w+/);
  });

  it('passes a run that cleans up', () => {
    const result = runSuite('expect(tmpdir()).toMatch(/^\\/tmp\\/vt-/);');
    expect(result.code, result.output).toBe(0);
  });
});
