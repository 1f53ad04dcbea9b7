import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.js';

export interface OffsiteAttempt {
  /** The database name, or "config". */
  label: string;
  attemptedAt: Date;
  /** 1 when every local verified artifact the remote should hold is there and verified; 0 while running and after a failure. */
  status: 0 | 1;
  /** Local verified artifacts the remote still lacks. */
  missing: number;
  /** Set on success; on failure the previous value is kept. */
  verifiedAt?: Date;
}

export function offsiteMetricsFile(label: string): string {
  return `healthmate_backup_offsite_${label}.prom`;
}

const LAST_VERIFIED = 'healthmate_backup_offsite_last_success_timestamp_seconds';

/** The last verified time a previous run wrote, so a failed run does not erase it. */
function previousVerified(path: string): number | undefined {
  try {
    const m = new RegExp(`^${LAST_VERIFIED}\\{[^}]*\\} (\\S+)$`, 'm').exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function offsiteMetricsText(attempt: OffsiteAttempt, previous: number | undefined): string {
  const label = `{backup="${attempt.label.replace(/[\\"\n]/g, '_')}"}`;
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number | undefined) => {
    if (value === undefined) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}${label} ${value}`);
  };
  gauge(
    LAST_VERIFIED,
    'End of the latest run after which every local verified backup was on the offsite remote, read back with a matching sha256.',
    attempt.verifiedAt ? Math.floor(attempt.verifiedAt.getTime() / 1000) : previous,
  );
  gauge(
    'healthmate_backup_offsite_last_attempt_timestamp_seconds',
    'Start time of the latest offsite copy run.',
    Math.floor(attempt.attemptedAt.getTime() / 1000),
  );
  gauge('healthmate_backup_offsite_last_status', '1 when the latest offsite copy run succeeded, else 0 (also while it runs).', attempt.status);
  gauge('healthmate_backup_offsite_missing', 'Local verified backups not yet verified on the offsite remote.', attempt.missing);
  return `${lines.join('\n')}\n`;
}

/** One file per set (dumps of a database, config), written atomically and world-readable for node_exporter. */
export function writeOffsiteMetrics(textfileDir: string, attempt: OffsiteAttempt): void {
  mkdirSync(textfileDir, { recursive: true });
  const path = join(textfileDir, offsiteMetricsFile(attempt.label));
  writeFileAtomic(path, offsiteMetricsText(attempt, previousVerified(path)), 0o644);
  chmodSync(path, 0o644);
}
