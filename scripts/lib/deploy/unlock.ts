/** `--force-unlock --reason`: the deploy lock of a run that is gone, opened by a person, recorded. */
import { hostname } from 'node:os';
import { log } from '../log.js';
import { gitCommit, repoRoot } from '../render/bundle.js';
import { appendAudit } from './audit.js';
import { currentUser, deployLockHolder, describeOwner, forceUnlock } from './lock.js';
import type { DeployStore } from './store.js';

/**
 * Removes a deploy lock whose holder is gone (another machine's lock is never
 * judged by a local pid, so a human decides), and records who removed whose
 * lock and why in the audit log.
 */
export function executeForceUnlock(store: DeployStore, info: { reason: string; env: string; image: string; dryRun: boolean }): void {
  const holder = deployLockHolder(store);
  if (!holder) {
    log.info(`the deploy lock on ${store.shell.where} is free: nothing to unlock.`);
    return;
  }
  const who = holder.owner ? describeOwner(holder.owner) : 'an unreadable owner';
  if (info.dryRun) {
    log.info(`dry run: would remove the deploy lock of ${who} from ${store.where}.`);
    return;
  }
  const removed = forceUnlock(store);
  if (!removed) return;
  appendAudit(store, {
    time: new Date().toISOString(),
    user: currentUser(),
    host: hostname(),
    env: info.env,
    commit: gitCommit(repoRoot()),
    image: info.image,
    tag: holder.owner?.version ?? '(unknown)',
    action: 'force-unlock',
    result: 'success',
    durationSeconds: 0,
    reason: info.reason,
    lockHolder: who,
  });
  log.warn(`removed the deploy lock of ${who} on ${store.shell.where} (reason recorded in the audit log).`);
}
