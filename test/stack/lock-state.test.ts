import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendAudit } from '../../scripts/lib/deploy/audit.js';
import { acquireLock, LOCK_DIR, readLockOwner } from '../../scripts/lib/deploy/lock.js';
import { promote, readState, writeState } from '../../scripts/lib/deploy/state.js';
import { BadInputError } from '../../scripts/lib/errors.js';
import { waitFor } from '../helpers/net.js';
import { REPO } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('deploy lock', () => {
  it('records who holds it, refuses a second deploy while the holder lives, and is released', () => {
    const dir = tempDir();
    const lock = acquireLock(dir, { version: '1.2.3', env: 'prod' });
    const owner = readLockOwner(dir);
    expect(owner).toMatchObject({ pid: process.pid, host: hostname(), version: '1.2.3', env: 'prod' });
    expect(() => acquireLock(dir, { version: '1.2.4', env: 'prod' })).toThrow(BadInputError);
    expect(() => acquireLock(dir, { version: '1.2.4', env: 'prod' })).toThrow(/another deploy holds the lock: .*pid \d+, prod 1\.2\.3/);
    lock.release();
    expect(existsSync(join(dir, LOCK_DIR))).toBe(false);
    acquireLock(dir, { version: '1.2.4', env: 'prod' }).release();
  });

  it('recovers a stale lock left by a dead process on this host', () => {
    const dir = tempDir();
    mkdirSync(join(dir, LOCK_DIR));
    writeFileSync(
      join(dir, LOCK_DIR, 'owner.json'),
      JSON.stringify({ pid: deadPid(), host: hostname(), user: 'x', startedAt: 'then', version: '0.1', env: 'prod' }),
    );
    const lock = acquireLock(dir, { version: '2.0.0', env: 'prod' });
    expect(readLockOwner(dir)?.pid).toBe(process.pid);
    lock.release();
  });

  it('never takes over a lock held from another host', () => {
    const dir = tempDir();
    mkdirSync(join(dir, LOCK_DIR));
    writeFileSync(
      join(dir, LOCK_DIR, 'owner.json'),
      JSON.stringify({ pid: deadPid(), host: 'elsewhere', user: 'x', startedAt: 'then', version: '0.1', env: 'prod' }),
    );
    expect(() => acquireLock(dir, { version: '2.0.0', env: 'prod' })).toThrow(/elsewhere/);
  });

  it('is released when the deploy is interrupted with Ctrl-C (SIGINT)', async () => {
    const dir = tempDir();
    const script = `
      import { acquireLock } from ${JSON.stringify(join(REPO, 'scripts/lib/deploy/lock.ts'))};
      acquireLock(${JSON.stringify(dir)}, { version: '9.9.9', env: 'prod' });
      process.stdout.write('locked\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(join(REPO, 'node_modules/.bin/tsx'), ['--eval', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    // tsx relays the signal to its node child and reports it as a signal or as exit code 130.
    const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? String(code))));
    try {
      await waitFor('the child to take the lock', () => out.includes('locked'), 30_000);
      expect(existsSync(join(dir, LOCK_DIR))).toBe(true);
      child.kill('SIGINT');
      expect(['SIGINT', '130']).toContain(await exited);
      expect(existsSync(join(dir, LOCK_DIR))).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('state file and audit log', () => {
  it('keeps the previous release as the rollback target', () => {
    const dir = tempDir();
    expect(readState(dir)).toEqual({});
    const a = { release: 'r1', tag: '1.0.0', at: 't1' };
    const b = { release: 'r2', tag: '1.1.0', at: 't2' };
    writeState(dir, promote(readState(dir), a));
    writeState(dir, promote(readState(dir), b));
    expect(readState(dir)).toEqual({ current: b, previous: a });
    // Redeploying the same release does not lose the rollback target.
    expect(promote(readState(dir), b)).toEqual({ current: b, previous: a });
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
    appendAudit(dir, entry);
    appendAudit(dir, { ...entry, tag: '1.1.0', result: 'rolled-back' });
    const lines = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).result)).toEqual(['success', 'rolled-back']);
  });
});
