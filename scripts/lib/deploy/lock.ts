import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { addCleanup } from '../cleanup.js';
import { BadInputError } from '../errors.js';
import { log } from '../log.js';

/** Who holds the deploy lock: written inside the lock folder. */
export interface LockOwner {
  pid: number;
  host: string;
  user: string;
  startedAt: string;
  version: string;
  env: string;
}

export const LOCK_DIR = 'lock';
const OWNER_FILE = 'owner.json';

export function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}

export function readLockOwner(deployDir: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(join(deployDir, LOCK_DIR, OWNER_FILE), 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock is stale when its owner ran on this host and that process is gone. */
export function isStale(owner: LockOwner | undefined): boolean {
  if (!owner) return true;
  return owner.host === hostname() && !processAlive(owner.pid);
}

export function describeOwner(owner: LockOwner): string {
  return `${owner.user}@${owner.host} (pid ${owner.pid}, ${owner.env} ${owner.version}, since ${owner.startedAt})`;
}

export interface HeldLock {
  owner: LockOwner;
  release(): void;
}

/**
 * Takes the deploy lock: an atomic mkdir (as Kamal does), with the owner
 * recorded inside. A stale lock of a dead process on this host is recovered;
 * a live one refuses. The lock is released on every exit path, Ctrl-C included.
 */
export function acquireLock(deployDir: string, info: { version: string; env: string }): HeldLock {
  mkdirSync(deployDir, { recursive: true });
  const dir = join(deployDir, LOCK_DIR);
  const owner: LockOwner = { pid: process.pid, host: hostname(), user: currentUser(), startedAt: new Date().toISOString(), ...info };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readLockOwner(deployDir);
      if (!isStale(holder)) {
        throw new BadInputError(
          `another deploy holds the lock: ${holder ? describeOwner(holder) : 'unknown owner'}.`,
          `wait for it to finish; if that process is gone on another host, remove ${dir}`,
        );
      }
      log.warn(`recovering a stale deploy lock${holder ? ` of ${describeOwner(holder)}` : ''}.`);
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    writeFileSync(join(dir, OWNER_FILE), `${JSON.stringify(owner)}\n`);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      // Only remove a lock that is still ours.
      if (readLockOwner(deployDir)?.pid === owner.pid) rmSync(dir, { recursive: true, force: true });
    };
    const removeCleanup = addCleanup(release);
    return {
      owner,
      release() {
        removeCleanup();
        release();
      },
    };
  }
  throw new BadInputError(`the deploy lock ${dir} cannot be taken.`, 'check the folder permissions');
}
