import { dirname } from 'node:path';
import { OperationError } from '../errors.js';
import { localShell } from '../host-shell.js';
import { newOwner, tryTakeLock } from '../lock.js';
import { log } from '../log.js';

export { processStartTime } from '../lock.js';

/** The lock could not be written because its disk is full: the run failed (unlike a lock held by another run). */
export class DiskFullError extends OperationError {}

function takeOrDiskFull(path: string, purpose: string): ReturnType<typeof tryTakeLock> {
  try {
    return tryTakeLock(localShell(), path, newOwner(purpose));
  } catch (error) {
    if (error instanceof OperationError && /no space left|disk quota exceeded/i.test(error.message))
      throw new DiskFullError(
        `the disk holding ${dirname(path)} is full (not even the lock file fits); no backup was started.`,
        'free space or lower BACKUP_KEEP_*',
      );
    throw error;
  }
}

/**
 * Takes the lock file `path` (the shared lock: owner recorded in the same
 * atomic step) or throws with who holds it. A lock left by a dead process of
 * this machine (kill -9, power cut) is taken over. Released on every exit
 * path, also on Ctrl-C.
 */
export function acquireLock(path: string, purpose: string): () => void {
  const result = takeOrDiskFull(path, purpose);
  if ('refused' in result) {
    const { owner, verdict } = result.refused;
    if (!owner || verdict === 'unreadable') throw new OperationError(`the lock ${path} has no readable owner.`, 'remove it only if no backup is running');
    throw new OperationError(
      `another ${owner.purpose} is running (pid ${owner.pid} on ${owner.host}, since ${owner.startedAt}); lock ${path}.`,
      'wait for it to finish; remove the lock file only if that process is gone',
    );
  }
  if (result.recovered) log.warn(`took over the lock ${path} of a dead process (pid ${result.recovered.pid}, since ${result.recovered.startedAt}).`);
  return () => result.held.release();
}
