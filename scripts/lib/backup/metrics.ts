import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.js';
import { type ArtifactEntry, isVerified } from './manifest.js';

export const BACKUP_METRICS_FILE = 'healthmate_backup.prom';

export interface AttemptStatus {
  database: string;
  attemptedAt: Date;
  /** 1 after a verified success; 0 while running (so a killed run reads as failed) and after a failure. */
  status: 0 | 1;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * node_exporter textfile: last success, size and duration come from the newest
 * verified manifest on disk, so they survive crashes without extra state.
 */
export function backupMetricsText(attempt: AttemptStatus, artifacts: ArtifactEntry[]): string {
  const verified = artifacts.filter(isVerified);
  const last = verified.at(-1)?.manifest;
  const label = `{database="${escapeLabel(attempt.database)}"}`;
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number | undefined) => {
    if (value === undefined) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}${label} ${value}`);
  };
  gauge('healthmate_backup_last_success_timestamp_seconds', 'End time of the newest verified backup.', last ? Date.parse(last.end) / 1000 : undefined);
  gauge('healthmate_backup_last_attempt_timestamp_seconds', 'Start time of the latest backup attempt.', attempt.attemptedAt.getTime() / 1000);
  gauge('healthmate_backup_last_status', '1 when the latest attempt produced a verified backup, else 0 (also while it runs).', attempt.status);
  gauge('healthmate_backup_last_size_bytes', 'Size of the newest verified backup artifact.', last?.size);
  gauge('healthmate_backup_last_duration_seconds', 'Duration of the newest verified backup.', last?.durationSeconds);
  gauge('healthmate_backups_kept', 'Verified backups on disk.', verified.length);
  return `${lines.join('\n')}\n`;
}

/** Written as file.prom.$$ then renamed, so node_exporter never reads half a file. */
export function writeBackupMetrics(textfileDir: string, attempt: AttemptStatus, artifacts: ArtifactEntry[]): void {
  const path = join(textfileDir, BACKUP_METRICS_FILE);
  writeFileAtomic(path, backupMetricsText(attempt, artifacts), 0o644);
  // node_exporter runs as another user; a umask of 0077 (systemd unit) must not hide the file.
  chmodSync(path, 0o644);
}
