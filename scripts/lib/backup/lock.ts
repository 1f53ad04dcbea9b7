import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { addCleanup } from '../cleanup.js';
import { OperationError } from '../errors.js';

/** What a lock file records about its holder. */
export interface LockHolder {
  pid: number;
  /** Kernel start time of the process (clock ticks since boot), so a reused pid is not mistaken for the holder. */
  pidStart: string;
  startedAt: string;
  host: string;
  purpose: string;
}

/** Start time of a live process, or undefined when there is no such process. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) may hold spaces, so count after its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

function isAlive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true; // cannot tell: a shared disk; be safe
  return processStartTime(holder.pid) === holder.pidStart;
}

/** The lock could not be written because its disk is full: the run failed (unlike a lock held by another run). */
export class DiskFullError extends OperationError {}

/**
 * Takes the lock file `path` (O_EXCL) or throws with who holds it. A lock
 * left by a dead process (kill -9, power cut) is taken over. Released on
 * every exit path, also on Ctrl-C.
 */
export function acquireLock(path: string, purpose: string): () => void {
  const holder: LockHolder = {
    pid: process.pid,
    pidStart: processStartTime(process.pid) ?? '',
    startedAt: new Date().toISOString(),
    host: hostname(),
    purpose,
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const current = readHolder(path);
      if (current && isAlive(current))
        throw new OperationError(
          `another ${current.purpose} is running (pid ${current.pid} on ${current.host}, since ${current.startedAt}); lock ${path}.`,
          'wait for it to finish; remove the lock file only if that process is gone',
        );
      // Stale: its holder is dead (or the file was cut short by a crash).
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(holder)}\n`);
    } catch (error) {
      closeSync(fd);
      rmSync(path, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT')
        throw new DiskFullError(
          `the disk holding ${dirname(path)} is full (not even the lock file fits); no backup was started.`,
          'free space or lower BACKUP_KEEP_*',
        );
      throw error;
    }
    closeSync(fd);
    const release = () => {
      if (readHolder(path)?.pid === holder.pid) rmSync(path, { force: true });
    };
    const removeCleanup = addCleanup(release);
    return () => {
      removeCleanup();
      release();
    };
  }
  throw new OperationError(`cannot take the lock ${path}: another run keeps recreating it.`);
}
