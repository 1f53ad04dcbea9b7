import { BadInputError } from '../errors.js';
import { type HeldLock, type LockOwner, newOwner, readLock, removeLockIf, tryTakeLock, type Verdict } from '../lock.js';
import { log } from '../log.js';
import { type DeployStore, storePath } from './store.js';

export { currentUser } from '../lock.js';
export type { HeldLock, LockOwner };

/** The deploy lock: a file in STATE_DIR/deploy on the engine's host (see store.ts and lib/lock.ts). */
export const LOCK_FILE = 'lock.json';

export function describeOwner(owner: LockOwner): string {
  return `${owner.user}@${owner.host} (pid ${owner.pid}, ${owner.purpose}${owner.env ? ` ${owner.env}` : ''}${owner.version ? ` ${owner.version}` : ''}, since ${owner.startedAt})`;
}

const FORCE_HINT = 'if that run is gone, release the lock with --force-unlock --reason "…" (the reason goes into the audit log)';

function refusal(store: DeployStore, owner: LockOwner | undefined, verdict: Verdict): BadInputError {
  const path = storePath(store, LOCK_FILE);
  if (!owner || verdict === 'unreadable') return new BadInputError(`the deploy lock ${store.shell.where}:${path} has no readable owner.`, FORCE_HINT);
  if (verdict === 'foreign')
    return new BadInputError(
      `the deploy lock on ${store.shell.where} is held from another machine by ${describeOwner(owner)}.`,
      `wait for it to finish; ${FORCE_HINT}`,
    );
  return new BadInputError(`another deploy holds the lock on ${store.shell.where}: ${describeOwner(owner)}.`, 'wait for it to finish');
}

/**
 * Takes the deploy lock where the store lives (the engine's host), owner
 * (who, host, pid, when, version) recorded in the same step. A held lock
 * refuses with exit 2 naming the holder; a dead process of this machine is
 * taken over.
 */
export function takeDeployLock(store: DeployStore, info: { purpose: 'deploy' | 'rollback' | 'switchover' | 'reinit'; version: string; env: string }): HeldLock {
  const result = tryTakeLock(store.shell, storePath(store, LOCK_FILE), newOwner(info.purpose, { version: info.version, env: info.env }));
  if ('refused' in result) throw refusal(store, result.refused.owner, result.refused.verdict);
  if (result.recovered) log.warn(`took over the deploy lock of a dead process: ${describeOwner(result.recovered)}.`);
  return result.held;
}

/** The holder of the deploy lock, or undefined when it is free. */
export function deployLockHolder(store: DeployStore): { owner?: LockOwner; verdict: Verdict; raw: string } | undefined {
  return readLock(store.shell, storePath(store, LOCK_FILE));
}

/**
 * `--force-unlock`: removes a lock that another machine (or an unreadable
 * owner) holds. A live process of this machine is not forced: stop it first.
 * Returns the holder removed, or undefined when the lock was free.
 */
export function forceUnlock(store: DeployStore): LockOwner | 'unreadable' | undefined {
  const holder = deployLockHolder(store);
  if (!holder) return undefined;
  if (holder.verdict === 'alive' && holder.owner)
    throw new BadInputError(
      `the deploy lock is held by a running process of this machine: ${describeOwner(holder.owner)}.`,
      `stop pid ${holder.owner.pid} (Ctrl-C releases the lock) instead of forcing it`,
    );
  if (!removeLockIf(store.shell, storePath(store, LOCK_FILE), holder.raw))
    throw new BadInputError('the deploy lock changed while it was being removed.', 'run --status and try again');
  return holder.owner ?? 'unreadable';
}
