import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';

export const PGBACKREST_METRICS_FILE = 'healthmate_pgbackrest.prom';

/** The part of `pgbackrest info --output=json` the metrics read. */
export interface StanzaInfo {
  name: string;
  status: { code: number; message: string };
  backup: {
    label: string;
    type: 'full' | 'diff' | 'incr';
    timestamp: { start: number; stop: number };
    info: { repository: { delta: number; size: number } };
  }[];
  archive: { id: string; min: string | null; max: string | null }[];
  /** Per repository: the reason when the stanza status is not ok. */
  repo?: { key: number; status: { code: number; message: string } }[];
}

/** The stanza's problem in pgBackRest's words (the repository's message is the specific one), or undefined when ok. */
export function stanzaProblem(stanza: StanzaInfo): string | undefined {
  if (stanza.status.code === 0) return undefined;
  const detail = (stanza.repo ?? []).map((r) => r.status.message).find((m) => m && m !== 'ok');
  return detail ?? stanza.status.message;
}

export function parseInfo(json: string): StanzaInfo[] {
  try {
    // pgBackRest 2.45 puts error messages into the JSON with raw newlines; its JSON is one line, so escaping every control character is safe.
    const escaped = [...json.trim()].map((c) => (c.charCodeAt(0) < 0x20 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)).join('');
    const parsed = JSON.parse(escaped) as StanzaInfo[];
    if (!Array.isArray(parsed)) throw new Error('not an array');
    return parsed;
  } catch (error) {
    throw new OperationError(`\`pgbackrest info --output=json\` printed something that is not its JSON: ${(error as Error).message}.`);
  }
}

/** Byte position of the end of a WAL segment (16 MiB segments): grows while archiving works. */
export function segmentEndBytes(segment: string): number | undefined {
  const m = /^[0-9A-F]{8}([0-9A-F]{8})([0-9A-F]{8})$/.exec(segment);
  if (!m) return undefined;
  return Number.parseInt(m[1] as string, 16) * 2 ** 32 + (Number.parseInt(m[2] as string, 16) + 1) * 16 * 2 ** 20;
}

export interface VerifyResult {
  at: Date;
  ok: boolean;
}

const VERIFY_MARK = /^healthmate_pgbackrest_verify_(last_status|last_run_timestamp_seconds)(?:\{[^}]*\})? (\S+)$/;

/** The last verify result kept in the existing file, so a metrics-only refresh does not forget it. */
export function previousVerify(textfileDir: string): VerifyResult | undefined {
  let text: string;
  try {
    text = readFileSync(join(textfileDir, PGBACKREST_METRICS_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = VERIFY_MARK.exec(line);
    if (m) values.set(m[1] as string, Number(m[2]));
  }
  const at = values.get('last_run_timestamp_seconds');
  const status = values.get('last_status');
  return at === undefined || status === undefined ? undefined : { at: new Date(at * 1000), ok: status === 1 };
}

/**
 * node_exporter textfile for one repository: per stanza its status, the end
 * of the newest backup of each type, backup count and bytes, the newest
 * archived WAL; plus when this was measured and the last verify result.
 */
export function pgbackrestMetricsText(stanzas: StanzaInfo[], measuredAt: Date, verify?: VerifyResult): string {
  const series = new Map<string, { help: string; samples: string[] }>();
  const gauge = (name: string, help: string, labels: Record<string, string>, value: number | undefined) => {
    if (value === undefined || Number.isNaN(value)) return;
    const entry = series.get(name) ?? { help, samples: [] };
    const text = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
      .join(',');
    entry.samples.push(`${name}${text ? `{${text}}` : ''} ${value}`);
    series.set(name, entry);
  };
  for (const s of stanzas) {
    const stanza = { stanza: s.name };
    gauge('healthmate_pgbackrest_status_ok', '1 when pgbackrest info reports the stanza ok (status code 0), else 0.', stanza, s.status.code === 0 ? 1 : 0);
    gauge(
      'healthmate_pgbackrest_status_code',
      'pgbackrest info status code of the stanza (0 ok, 1 missing stanza path, 2 no valid backups, ...).',
      stanza,
      s.status.code,
    );
    for (const type of ['full', 'diff', 'incr'] as const) {
      const newest = s.backup.filter((b) => b.type === type).at(-1);
      gauge(
        'healthmate_pgbackrest_last_backup_timestamp_seconds',
        'Stop time of the newest backup of each type in the repository.',
        { ...stanza, type },
        newest?.timestamp.stop,
      );
    }
    gauge('healthmate_pgbackrest_backups', 'Backups in the repository.', stanza, s.backup.length);
    gauge(
      'healthmate_pgbackrest_repo_backup_bytes',
      'Bytes the backups take in the repository (compressed, encrypted; WAL not included).',
      stanza,
      s.backup.reduce((sum, b) => sum + (b.info.repository.delta ?? 0), 0),
    );
    const max = s.archive
      .map((a) => a.max)
      .filter((m): m is string => typeof m === 'string')
      .sort()
      .at(-1);
    gauge(
      'healthmate_pgbackrest_archive_max_wal_bytes',
      'End position (bytes) of the newest WAL segment in the repository archive.',
      stanza,
      max ? segmentEndBytes(max) : undefined,
    );
  }
  gauge('healthmate_pgbackrest_metrics_timestamp_seconds', 'When pgbackrest info was last read successfully.', {}, measuredAt.getTime() / 1000);
  if (verify) {
    gauge('healthmate_pgbackrest_verify_last_status', '1 when the last pgbackrest verify found the repository intact, else 0.', {}, verify.ok ? 1 : 0);
    gauge('healthmate_pgbackrest_verify_last_run_timestamp_seconds', 'When pgbackrest verify last ran.', {}, verify.at.getTime() / 1000);
  }
  const lines: string[] = [];
  for (const [name, { help, samples }] of series) lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples);
  return `${lines.join('\n')}\n`;
}

/** Written via a temp file and renamed, so node_exporter never reads half a file. */
export function writePgbackrestMetrics(textfileDir: string, text: string): string {
  const path = join(textfileDir, PGBACKREST_METRICS_FILE);
  writeFileAtomic(path, text, 0o644);
  chmodSync(path, 0o644);
  return path;
}
