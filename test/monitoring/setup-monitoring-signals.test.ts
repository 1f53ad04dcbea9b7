import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type Launched, type Launcher, launch, ourTempFolders } from '../helpers/interrupt.js';
import { WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { commandLine } from '../helpers/procs.js';
import { REPO } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { prodEnvArgs, testServer } from './helpers.js';

/**
 * setup-monitoring.ts renders into a temp folder: it must hold monitoring/
 * only (no database or other secret), and go away on SIGTERM and SIGINT,
 * which a `finally` never sees. The run is held at the Prometheus reload by a
 * server that accepts the request and never answers.
 */

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile());
}

describe('setup-monitoring.ts temp bundle', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('holds no secret and is removed on %s', async (signal) => {
    const dir = tempDir();
    // A private TMPDIR: only this run's folders appear in it.
    const tmp = tempDir();
    const hang = await testServer(() => undefined);
    onTestFinished(() => hang.close());
    const envArgs = prodEnvArgs(dir, join(dir, 'state'));
    const postgresPassword = envArgs[envArgs.findIndex((a) => a.startsWith('POSTGRES_PASSWORD=')) ?? -1]?.split('=')[1] ?? '';
    expect(postgresPassword.length).toBeGreaterThan(10);
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(REPO, 'scripts', 'setup-monitoring.ts'),
        ...envArgs,
        '--prefix',
        join(dir, 'prefix'),
        '--prometheus-url',
        hang.url,
        '--alertmanager-url',
        hang.url,
      ],
      { cwd: REPO, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.stdout?.resume();
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('close', (code, sig) => resolve(sig ?? code)));

    // Validated and installed: the run now waits for the reload, its temp bundle on disk.
    await waitFor('the reload request', () => hang.requests.length > 0, WAIT_BUDGET_MS, 200).catch((error) => {
      throw new Error(`${error}\n${stderr}`);
    });
    const scratch = readdirSync(tmp).filter((f) => f.startsWith('healthmate-monitoring-'));
    expect(scratch).toHaveLength(1);
    const bundle = join(tmp, scratch[0] as string);
    const rendered = files(bundle);
    expect(rendered.length).toBeGreaterThan(5);
    expect(rendered.every((f) => f.startsWith('prod/monitoring/'))).toBe(true);
    for (const file of rendered) expect(readFileSync(join(bundle, file), 'utf8')).not.toContain(postgresPassword);

    child.kill(signal);
    expect(await exited).toBe(signal);
    expect(stderr).toContain(`interrupted by ${signal}: cleaning up`);
    // tsx keeps its own cache (tsx-0) in TMPDIR; nothing of ours may remain.
    expect(readdirSync(tmp).filter((f) => f.startsWith('healthmate-'))).toEqual([]);
    expect(existsSync(bundle)).toBe(false);
  });
});

describe('setup-monitoring.ts interrupted during a hanging reload, as an operator does', () => {
  async function atReload(launcher: Launcher): Promise<{ run: Launched; tmp: string }> {
    const dir = tempDir();
    const tmp = tempDir();
    const hang = await testServer(() => undefined);
    onTestFinished(() => hang.close());
    const args = [...prodEnvArgs(dir, join(dir, 'state')), '--prefix', join(dir, 'prefix'), '--prometheus-url', hang.url, '--alertmanager-url', hang.url];
    const run = launch(launcher, 'setup-monitoring.ts', args, { TMPDIR: tmp });
    await waitFor('the reload request', () => hang.requests.length > 0, WAIT_BUDGET_MS, 200).catch((error) => {
      throw new Error(`${error}\n${run.stderr()}`);
    });
    expect(ourTempFolders(tmp)).toEqual([expect.stringMatching(/^healthmate-monitoring-/)]);
    return { run, tmp };
  }

  it.each(['npx', 'tsx'] as const)('Ctrl-C through %s leaves no temp folder', async (launcher) => {
    const { run, tmp } = await atReload(launcher);
    run.press('SIGINT');
    expect(['SIGINT', 130]).toContain(await run.exit);
    await run.gone();
    await waitFor('the temp folder to go', () => ourTempFolders(tmp).length === 0).catch(() => undefined);
    expect(ourTempFolders(tmp)).toEqual([]);
  });

  it('kill -9 of the script leaves no temp folder (its reaper removes it)', async () => {
    const { run, tmp } = await atReload('tsx');
    const script = run.members().find((p) => commandLine(p.pid).includes('loader.mjs'))?.pid as number;
    process.kill(script, 'SIGKILL');
    await run.gone();
    await waitFor('the temp folder to go', () => ourTempFolders(tmp).length === 0).catch(() => undefined);
    expect(ourTempFolders(tmp)).toEqual([]);
  });
});
