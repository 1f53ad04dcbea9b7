import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const AUDIT_FILE = 'audit.log';

/** One line of the JSON-lines audit log. */
export interface AuditEntry {
  time: string;
  user: string;
  host: string;
  env: string;
  commit: string;
  image: string;
  tag: string;
  action: 'deploy' | 'rollback';
  /** interrupted: stopped by a signal (Ctrl-C); containers it had started are removed, the lock released. */
  result: 'success' | 'failed' | 'rolled-back' | 'interrupted';
  durationSeconds: number;
  release?: string;
  previousTag?: string;
  /** Checks left out with --skip-check: the deploy went ahead without them. */
  skippedChecks?: string[];
  error?: string;
}

/** Appends one line (O_APPEND: concurrent writers never interleave a line). */
export function appendAudit(deployDir: string, entry: AuditEntry): void {
  mkdirSync(deployDir, { recursive: true });
  appendFileSync(join(deployDir, AUDIT_FILE), `${JSON.stringify(entry)}\n`, { mode: 0o640 });
}
