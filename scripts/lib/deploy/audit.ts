import { appendStoreFile, type DeployStore, tailStoreFile } from './store.js';

export const AUDIT_FILE = 'audit.log';

/** One line of the JSON-lines audit log (kept on the engine's host, see store.ts). */
export interface AuditEntry {
  time: string;
  user: string;
  host: string;
  env: string;
  commit: string;
  image: string;
  tag: string;
  /** switchover, reinit: db-cluster.ts (the image is the PostgreSQL one). */
  action: 'deploy' | 'rollback' | 'force-unlock' | 'switchover' | 'reinit';
  /** interrupted: stopped by a signal (Ctrl-C); containers it had started are removed, the lock released. */
  result: 'success' | 'failed' | 'rolled-back' | 'interrupted';
  durationSeconds: number;
  release?: string;
  previousTag?: string;
  /** Checks left out with --skip-check: the deploy went ahead without them. */
  skippedChecks?: string[];
  error?: string;
  /** force-unlock: why, and whose lock was removed. */
  reason?: string;
  lockHolder?: string;
  /** switchover and reinit: the member that led before and after, or the member rebuilt. */
  leaderBefore?: string;
  leaderAfter?: string;
  member?: string;
}

export function appendAudit(store: DeployStore, entry: AuditEntry): void {
  appendStoreFile(store, AUDIT_FILE, `${JSON.stringify(entry)}\n`);
}

/** The newest `count` entries, oldest first; lines that are not JSON are skipped. */
export function lastAudit(store: DeployStore, count: number): AuditEntry[] {
  const text = tailStoreFile(store, AUDIT_FILE, count) ?? '';
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as AuditEntry];
      } catch {
        return [];
      }
    });
}
