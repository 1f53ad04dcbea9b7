import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { launch, ourTempFolders } from '../helpers/interrupt.js';
import { waitFor } from '../helpers/net.js';
import { alive, reaperOf } from '../helpers/procs.js';
import { REPO, SCRIPT_TIMEOUT_MS } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

const CLEANUP = JSON.stringify(join(REPO, 'scripts', 'lib', 'cleanup.ts'));

/**
 * A script that makes a temp folder through the registry, writes a 0600
 * secret file into it, prints the folder's path, then runs `ending`.
 */
function writeScript(dir: string, ending: string): string {
  const script = join(dir, 'ending.mts');
  writeFileSync(
    script,
    [
      "import { writeFileSync } from 'node:fs';",
      "import { basename, join } from 'node:path';",
      `import { addCleanup, privateTempDir, runCleanups } from ${CLEANUP};`,
      "const folder = privateTempDir('healthmate-pgpass-').path;",
      "writeFileSync(join(folder, 'pgpass'), '*:*:*:u:secret\\n', { mode: 0o600 });",
      "process.stdout.write(folder + '\\n');",
      ending,
      '',
    ].join('\n'),
  );
  return script;
}

function runEnding(ending: string): { code: number | null; stderr: string; folder: string } {
  const dir = tempDir();
  const result = spawnSync(join(REPO, 'node_modules', '.bin', 'tsx'), [writeScript(dir, ending)], { cwd: dir, encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS });
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

describe('privateTempDir', () => {
  it('is 0700, and after kill -9 of its process the reaper removes what is still registered, then exits', async () => {
    const dir = tempDir();
    const tmp = tempDir();
    const script = writeScript(
      dir,
      [
        "import { mkdirSync } from 'node:fs';",
        // Removed by the script, then someone else's folder by chance at the same path: not the reaper's to remove.
        "const other = privateTempDir('healthmate-other-');",
        'other.remove();',
        'mkdirSync(other.path);',
        "process.stdout.write(other.path + '\\n');",
        // Synchronous work: the process cannot answer a signal, as under spawnSync or a big parse.
        "process.stdout.write('busy\\n'); for (;;) {}",
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
    await waitFor('the script to be busy', () => stdout.includes('busy\n'));
    const [folder, other] = stdout.split('\n') as [string, string];
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(folder, 'pgpass'), 'utf8')).toContain('secret');
    const reaper = reaperOf(child.pid as number);
    expect(reaper, 'the reaper runs beside the script').toBeDefined();
    // Nothing of the script's environment reaches the reaper.
    expect(readFileSync(`/proc/${reaper}/environ`, 'utf8').split('\0').filter(Boolean)).toEqual([`PATH=${process.env.PATH}`]);

    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    await waitFor('the reaper to remove the folder', () => !existsSync(folder));
    await waitFor('the reaper to exit', () => !alive(reaper as number));
    expect(ourTempFolders(tmp)).toEqual([basename(other)]);
  });

  it('tells the reaper its folder before making it: a kill -9 the moment the folder exists leaves nothing', async () => {
    const dir = tempDir();
    const tmp = tempDir();
    // The moment a folder of ours exists, the process stops itself (SIGSTOP), and the test kills it there.
    const freeze = join(dir, 'freeze.mjs');
    writeFileSync(
      freeze,
      [
        "import fs from 'node:fs';",
        "import { syncBuiltinESMExports } from 'node:module';",
        "for (const name of ['mkdtempSync', 'mkdirSync']) {",
        '  const make = fs[name];',
        '  fs[name] = (path, ...rest) => {',
        '    const made = make(path, ...rest);',
        "    if (String(made ?? path).includes('healthmate-frozen-')) process.kill(process.pid, 'SIGSTOP');",
        '    return made;',
        '  };',
        '}',
        'syncBuiltinESMExports();',
      ].join('\n'),
    );
    const script = join(dir, 'make.mts');
    writeFileSync(script, `import { privateTempDir } from ${CLEANUP};\nprivateTempDir('healthmate-frozen-');\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', freeze, script], {
      cwd: REPO,
      env: { ...process.env, TMPDIR: tmp },
      stdio: 'ignore',
    });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    const state = (): string => readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? '';
    await waitFor('the script to stop with its folder made', () => state() === 'T');
    expect(ourTempFolders(tmp)).toHaveLength(1);
    const reaper = reaperOf(child.pid as number);
    expect(reaper, 'the reaper runs beside the script').toBeDefined();
    child.kill('SIGKILL');
    await waitFor('the reaper to exit', () => !alive(reaper as number));
    expect(ourTempFolders(tmp)).toEqual([]);
  });
});

/**
 * A script with a slow cleanup (a deploy putting containers back): it writes
 * `started`, waits for the test to write `go`, then gives the event loop one
 * turn, in which a signal already sent is handled before it can write `done`.
 */
function slowCleanupScript(dir: string, ending: string): { script: string; started: string; go: string; done: string } {
  const [started, go, done] = ['cleanup-started', 'go', 'cleanup-done'].map((name) => join(dir, name)) as [string, string, string];
  const script = writeScript(
    dir,
    [
      "import { existsSync } from 'node:fs';",
      'addCleanup(async () => {',
      `  writeFileSync(${JSON.stringify(started)}, '');`,
      `  while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 20));`,
      '  await new Promise((r) => setTimeout(r, 10));',
      `  writeFileSync(${JSON.stringify(done)}, '');`,
      '});',
      "process.stdout.write('ready\\n');",
      ending,
    ].join('\n'),
  );
  return { script, started, go, done };
}

describe('a signal during cleanup', () => {
  it.each([
    ['SIGINT', 'SIGINT'],
    ['SIGTERM', 'SIGINT'],
  ] as const)('%s then %s through tsx: the cleanup still completes, then the process dies by the first', async (first, second) => {
    const dir = tempDir();
    const tmp = tempDir();
    const { script, started, go, done } = slowCleanupScript(dir, 'setInterval(() => undefined, 1000);');
    const run = launch('tsx', script, [], { TMPDIR: tmp });
    await waitFor('the script to be ready', () => run.stdout().includes('ready\n'));
    expect(ourTempFolders(tmp)).toHaveLength(1);
    run.press(first);
    await waitFor('the cleanup to start', () => existsSync(started));
    run.press(second);
    writeFileSync(go, '');
    const exit = await run.exit;
    await run.gone();
    expect(existsSync(done), run.stderr()).toBe(true);
    expect(run.stderr()).toContain(`interrupted by ${first}: cleaning up`);
    // tsx exits 128 + the signal that ended the script.
    expect(exit).toBe(128 + constants.signals[first]);
    expect(ourTempFolders(tmp)).toEqual([]);
  });

  it("SIGINT during the normal end's cleanup (runCli's finally) waits for that cleanup, then the process dies by it", async () => {
    const dir = tempDir();
    const tmp = tempDir();
    const { script, started, go, done } = slowCleanupScript(dir, 'await runCleanups();');
    const run = launch('tsx', script, [], { TMPDIR: tmp });
    await waitFor('the cleanup to start', () => existsSync(started));
    run.press('SIGINT');
    writeFileSync(go, '');
    const exit = await run.exit;
    await run.gone();
    expect(existsSync(done), run.stderr()).toBe(true);
    expect(exit).toBe(130);
    expect(ourTempFolders(tmp)).toEqual([]);
  });
});
