import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, SCRIPT_TIMEOUT_MS } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

/**
 * The suite teardown (test/leftovers.ts) on a tiny suite of its own: a leaking test fails the run.
 * With `netns`, the suite runs in a network namespace of its own (unshare --net), where its
 * bridges and addresses cannot touch the machine's.
 */
function runSuite(testBody: string, options: { netns?: boolean } = {}): { code: number; output: string; dir: string } {
  const dir = tempDir();
  writeFileSync(
    join(dir, 'vitest.config.mjs'),
    `export default { test: { globals: true, include: ['probe.test.mjs'], globalSetup: [${JSON.stringify(join(REPO, 'test', 'leftovers.ts'))}] } };\n`,
  );
  writeFileSync(
    join(dir, 'probe.test.mjs'),
    [
      "import { execFileSync } from 'node:child_process';",
      "import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';",
      "import { tmpdir } from 'node:os';",
      "import { join } from 'node:path';",
      `import { writeDockerdRecord } from ${JSON.stringify(join(REPO, 'test', 'helpers', 'dockerd-records.ts'))};`,
      `const outer = ${JSON.stringify(dir)};`,
      "const ip = (...args) => execFileSync('ip', args);",
      `test('probe', () => {\n${testBody}\n});`,
      '',
    ].join('\n'),
  );
  const vitest = [join(REPO, 'node_modules', '.bin', 'vitest'), 'run', '--root', dir, '--config', join(dir, 'vitest.config.mjs')];
  const [command, ...args] = options.netns ? [needTool('unshare'), '--net', ...vitest] : vitest;
  const result = spawnSync(command as string, args, { cwd: dir, encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS });
  return { code: result.status ?? 1, output: `${result.stdout}${result.stderr}`, dir };
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

  it('fails a run whose private dockerd left its folder, a bridge it listed and an address of its pool, naming each', () => {
    const body = [
      "const root = join(outer, 'hm-e2e-daemon');",
      'mkdirSync(root);',
      // A daemon that has stopped (its pid is gone), so the teardown has nothing to wait for.
      "const pid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']));",
      "writeDockerdRecord({ pid, root, pool: '198.18.32.0/20', bridges: ['br-listed'] });",
      "ip('link', 'add', 'br-listed', 'type', 'bridge');",
      // A bridge it did not list (it died before it could), known by its address in the daemon's pool.
      "ip('link', 'add', 'br-unlisted', 'type', 'bridge');",
      "ip('addr', 'add', '198.18.40.1/24', 'dev', 'br-unlisted');",
    ].join('\n');
    const result = runSuite(body, { netns: true });
    expect(result.code, result.output).toBe(1);
    expect(result.output).toContain('the test run left behind:');
    expect(result.output).toMatch(/temp folder \/tmp\/vt-\w+\/healthmate-test-\w+\/hm-e2e-daemon \(the private dockerd's own\)/);
    expect(result.output).toMatch(/bridge br-listed \(of the private dockerd in /);
    expect(result.output).toMatch(/bridge br-unlisted \(of the private dockerd in /);
    expect(result.output).toMatch(/address 198\.18\.40\.1\/24 on br-unlisted \(pool 198\.18\.32\.0\/20 /);
  });

  it("passes a run while another process's daemon makes bridges, addresses and /tmp/hm-e2e-* folders of its own", () => {
    const body = [
      // This run's daemon, stopped cleanly: its folder and bridge are gone.
      "const pid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']));",
      "writeDockerdRecord({ pid, root: join(outer, 'hm-e2e-gone'), pool: '198.18.32.0/20', bridges: ['br-gone'] });",
      // Another suite's daemon, in another /20 of 198.18.0.0/16.
      "const foreign = mkdtempSync('/tmp/hm-e2e-');",
      "writeFileSync(join(outer, 'foreign'), foreign);",
      "ip('link', 'add', 'br-foreign', 'type', 'bridge');",
      "ip('addr', 'add', '198.18.48.1/24', 'dev', 'br-foreign');",
    ].join('\n');
    const result = runSuite(body, { netns: true });
    const foreign = join(result.dir, 'foreign');
    if (existsSync(foreign)) rmSync(readFileSync(foreign, 'utf8'), { recursive: true, force: true });
    expect(result.code, result.output).toBe(0);
  });
});
