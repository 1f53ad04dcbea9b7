import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EnvArgs } from '../../scripts/lib/cli.js';
import { appendAudit, lastAudit } from '../../scripts/lib/deploy/audit.js';
import { deployContext } from '../../scripts/lib/deploy/context.js';
import { deployLockHolder, forceUnlock, LOCK_FILE, takeDeployLock } from '../../scripts/lib/deploy/lock.js';
import { executeDeploy } from '../../scripts/lib/deploy/run.js';
import { promote, readState, writeState } from '../../scripts/lib/deploy/state.js';
import { deployStore } from '../../scripts/lib/deploy/store.js';
import { BadInputError } from '../../scripts/lib/errors.js';
import { waitFor } from '../helpers/net.js';
import { nodeWithTsx, REPO } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { testEnv } from './env.js';

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

const local = (dir: string) => deployStore({ kind: 'local' }, dir);
const info = (version: string) => ({ purpose: 'deploy' as const, version, env: 'prod' });
const ownerJson = (pid: number, host: string) => JSON.stringify({ pid, host, user: 'x', startedAt: 'then', purpose: 'deploy', version: '0.1', env: 'prod' });

describe('deploy lock', () => {
  it('records who holds it, refuses a second deploy while the holder lives, and is released', () => {
    const dir = tempDir();
    const lock = takeDeployLock(local(dir), info('1.2.3'));
    const owner = deployLockHolder(local(dir))?.owner;
    expect(owner).toMatchObject({ pid: process.pid, host: hostname(), version: '1.2.3', env: 'prod', purpose: 'deploy' });
    expect(() => takeDeployLock(local(dir), info('1.2.4'))).toThrow(BadInputError);
    expect(() => takeDeployLock(local(dir), info('1.2.4'))).toThrow(/another deploy holds the lock on this machine: .*pid \d+, deploy prod 1\.2\.3/);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    takeDeployLock(local(dir), info('1.2.4')).release();
  });

  it('recovers a stale lock left by a dead process on this host', () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), ownerJson(deadPid(), hostname()));
    const lock = takeDeployLock(local(dir), info('2.0.0'));
    expect(deployLockHolder(local(dir))?.owner?.pid).toBe(process.pid);
    lock.release();
    expect(existsSync(join(dir, `${LOCK_FILE}.break`))).toBe(false);
  });

  it('never judges a lock of another host by a local pid: refused until --force-unlock removes it', () => {
    const dir = tempDir();
    const foreign = ownerJson(deadPid(), 'elsewhere');
    writeFileSync(join(dir, LOCK_FILE), foreign);
    expect(() => takeDeployLock(local(dir), info('2.0.0'))).toThrow(/held from another machine by x@elsewhere \(pid \d+, deploy prod 0\.1, since then\)/);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(foreign);
    expect(forceUnlock(local(dir))).toMatchObject({ host: 'elsewhere' });
    expect(forceUnlock(local(dir))).toBeUndefined();
    takeDeployLock(local(dir), info('2.0.0')).release();
  });

  it('--force-unlock refuses a lock of a process that still runs on this machine', () => {
    const dir = tempDir();
    const lock = takeDeployLock(local(dir), info('1.0.0'));
    expect(() => forceUnlock(local(dir))).toThrow(/held by a running process of this machine/);
    lock.release();
  });

  it('an owner that is not JSON is refused, never taken over', () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, LOCK_FILE), '');
    expect(() => takeDeployLock(local(dir), info('1.0.0'))).toThrow(/has no readable owner/);
  });

  it('is released when the deploy is interrupted with Ctrl-C (SIGINT)', async () => {
    const dir = tempDir();
    const script = `
      import { takeDeployLock } from ${JSON.stringify(join(REPO, 'scripts/lib/deploy/lock.ts'))};
      import { deployStore } from ${JSON.stringify(join(REPO, 'scripts/lib/deploy/store.ts'))};
      takeDeployLock(deployStore({ kind: 'local' }, ${JSON.stringify(dir)}), { purpose: 'deploy', version: '9.9.9', env: 'prod' });
      process.stdout.write('locked\\n');
      setInterval(() => {}, 1000);
    `;
    const [node, ...args] = nodeWithTsx('--eval', script);
    const child = spawn(node, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? String(code))));
    try {
      await waitFor('the child to take the lock', () => out.includes('locked'));
      expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
      child.kill('SIGINT');
      expect(await exited).toBe('SIGINT');
      expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('state file and audit log', () => {
  it('keeps the previous release as the rollback target', () => {
    const dir = tempDir();
    const store = local(dir);
    expect(readState(store)).toEqual({});
    const a = { release: 'r1', tag: '1.0.0', at: 't1' };
    const b = { release: 'r2', tag: '1.1.0', at: 't2' };
    writeState(store, promote(readState(store), a));
    writeState(store, promote(readState(store), b));
    expect(readState(store)).toEqual({ current: b, previous: a });
    // Redeploying the same release does not lose the rollback target.
    expect(promote(readState(store), b)).toEqual({ current: b, previous: a });
    writeFileSync(join(dir, 'state.json'), '{ half');
    expect(() => readState(store)).toThrow(/state\.json is not valid JSON/);
  });

  it('appends one JSON line per deploy', () => {
    const dir = tempDir();
    const entry = {
      time: 't',
      user: 'u',
      host: 'h',
      env: 'prod',
      commit: 'c',
      image: 'healthmate/backend',
      tag: '1.0.0',
      action: 'deploy' as const,
      result: 'success' as const,
      durationSeconds: 1.5,
    };
    appendAudit(local(dir), entry);
    appendAudit(local(dir), { ...entry, tag: '1.1.0', result: 'rolled-back' });
    const lines = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).result)).toEqual(['success', 'rolled-back']);
    for (let i = 0; i < 6; i++) appendAudit(local(dir), { ...entry, tag: `2.0.${i}` });
    expect(lastAudit(local(dir), 5).map((e) => e.tag)).toEqual(['2.0.1', '2.0.2', '2.0.3', '2.0.4', '2.0.5']);
  });
});

describe('a deploy under the lock', () => {
  it('refuses when the release state changed between the plan and the lock (another operator deployed): exit 2, lock released, nothing recorded', async () => {
    const { env, stateDir } = testEnv('prod');
    const args: EnvArgs = { env: 'prod', overrides: {}, dryRun: false };
    const ctx = await deployContext(args, env, { skipBackup: true, skipChecks: [] });
    expect(ctx.plan.previous).toBeUndefined();
    const store = local(join(stateDir, 'deploy'));
    writeState(store, { current: { release: 'r9', tag: '9.0.0', at: 't' } });
    await expect(executeDeploy(ctx, '')).rejects.toThrow(
      /release state on .* changed since the plan was made: 9\.0\.0 \(release r9\) runs now; nothing was started or stopped/,
    );
    expect(deployLockHolder(store)).toBeUndefined();
    expect(existsSync(join(stateDir, 'deploy', 'audit.log'))).toBe(false);
    expect(existsSync(join(stateDir, 'deploy', 'releases'))).toBe(false);
  });
});
