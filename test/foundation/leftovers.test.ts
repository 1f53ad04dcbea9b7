import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, SCRIPT_TIMEOUT_MS } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

/**
 * The suite teardown (test/leftovers.ts) on a tiny suite of its own: a leaking test fails the run.
 * With `netns`, the suite runs in a network and mount namespace of its own (unshare, a tmpfs
 * on /run/netns), where its bridges, addresses and named network namespaces cannot touch the
 * machine's.
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
      `import { writeDockerdRecord, writeHostsRecord } from ${JSON.stringify(join(REPO, 'test', 'helpers', 'harness-records.ts'))};`,
      `const outer = ${JSON.stringify(dir)};`,
      "const ip = (...args) => execFileSync('ip', args);",
      `test('probe', () => {\n${testBody}\n});`,
      '',
    ].join('\n'),
  );
  const vitest = [join(REPO, 'node_modules', '.bin', 'vitest'), 'run', '--root', dir, '--config', join(dir, 'vitest.config.mjs')];
  const isolated = [needTool('unshare'), '--net', '--mount', 'sh', '-c', 'mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns && exec "$@"', 'sh'];
  const [command, ...args] = options.netns ? [...isolated, ...vitest] : vitest;
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

  it('fails a run whose private dockerd left its folder, a bridge it listed, or (one that never listed) a bridge and an address of its pool, naming each', () => {
    const body = [
      "const root = join(outer, 'hm-e2e-daemon');",
      'mkdirSync(root);',
      // Daemons that have ended (their pid is gone), so the teardown has nothing to wait for.
      "const pid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']));",
      "writeDockerdRecord({ pid, root, pool: '198.18.32.0/20', bridges: ['br-listed'] });",
      "ip('link', 'add', 'br-listed', 'type', 'bridge');",
      // A daemon killed before it could list its bridges: known by the address in its pool.
      "writeDockerdRecord({ pid, root: join(outer, 'hm-e2e-killed'), pool: '198.18.64.0/20' });",
      "ip('link', 'add', 'br-unlisted', 'type', 'bridge');",
      "ip('addr', 'add', '198.18.72.1/24', 'dev', 'br-unlisted');",
    ].join('\n');
    const result = runSuite(body, { netns: true });
    expect(result.code, result.output).toBe(1);
    expect(result.output).toContain('the test run left behind:');
    expect(result.output).toMatch(/temp folder \/tmp\/vt-\w+\/healthmate-test-\w+\/hm-e2e-daemon \(the private dockerd's own\)/);
    expect(result.output).toMatch(/bridge br-listed \(of the private dockerd in /);
    expect(result.output).toMatch(/bridge br-unlisted \(of the private dockerd in \S+\/hm-e2e-killed\)/);
    expect(result.output).toMatch(/address 198\.18\.72\.1\/24 on br-unlisted \(pool 198\.18\.64\.0\/20 /);
  });

  it("fails a run whose e2e hosts left their folder, switch, a link and a namespace, naming each; another suite's hosts do not count", () => {
    const body = [
      "const root = join(outer, 'hm-e2e-hosts');",
      'mkdirSync(root);',
      "writeHostsRecord({ root, bridge: 'hm-left', netns: ['hm-e2e-left-a', 'hm-e2e-left-b'], links: ['hm-left-0', 'hm-left-1'] });",
      "ip('link', 'add', 'hm-left', 'type', 'bridge');",
      // Host a stayed plugged in; host b was unplugged (its namespace and link gone).
      "ip('netns', 'add', 'hm-e2e-left-a');",
      "ip('link', 'add', 'hm-left-0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'hm-e2e-left-a');",
      // Another suite's hosts, the same kinds of names.
      "ip('link', 'add', 'hm-foreign', 'type', 'bridge');",
      "ip('netns', 'add', 'hm-e2e-foreign-a');",
      "ip('link', 'add', 'hm-foreign-0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'hm-e2e-foreign-a');",
    ].join('\n');
    const result = runSuite(body, { netns: true });
    expect(result.code, result.output).toBe(1);
    const listed = result.output.slice(result.output.indexOf('the test run left behind:')).split('\nfix the test')[0] as string;
    expect(
      listed
        .split('\n')
        .slice(1)
        .map((line) => line.trim().replace(/ \(.*\)$/, '')),
    ).toEqual([
      expect.stringMatching(/^temp folder \/tmp\/vt-\w+\/healthmate-test-\w+\/hm-e2e-hosts$/),
      'link hm-left',
      'link hm-left-0',
      'network namespace hm-e2e-left-a',
    ]);
    expect(listed).toMatch(/temp folder \S+\/hm-e2e-hosts \(the e2e hosts' own\)/);
    expect(listed).toMatch(/link hm-left-0 \(of the e2e hosts in \S+\/hm-e2e-hosts\)/);
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
      // And one that drew this run's slice while neither had a network up: its bridge is not on our list.
      "ip('link', 'add', 'br-same-slice', 'type', 'bridge');",
      "ip('addr', 'add', '198.18.33.1/24', 'dev', 'br-same-slice');",
    ].join('\n');
    const result = runSuite(body, { netns: true });
    const foreign = join(result.dir, 'foreign');
    if (existsSync(foreign)) rmSync(readFileSync(foreign, 'utf8'), { recursive: true, force: true });
    expect(result.code, result.output).toBe(0);
  });
});
