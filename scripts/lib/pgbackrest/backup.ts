import { describeCommand } from '../backup/process.js';
import { OperationError } from '../errors.js';
import { log } from '../log.js';
import { type PgbackrestRunner, runPgbackrest, stanzaArgs } from './command.js';
import { parseInfo, pgbackrestMetricsText, previousVerify, type StanzaInfo, type VerifyResult, writePgbackrestMetrics } from './metrics.js';
import type { PgbackrestSettings } from './settings.js';

/** pgBackRest's backup types (backup-db.ts --type checks the value). */
export type PhysicalBackupType = 'full' | 'diff' | 'incr';

/** The commands a physical backup runs, for --dry-run and the tests. */
export function physicalBackupPlan(settings: PgbackrestSettings, runner: PgbackrestRunner, type: PhysicalBackupType): string[] {
  return [
    `on the repository host (${runner.where}):`,
    `${describeCommand(runner.command(stanzaArgs(settings.stanza, 'stanza-create')))}   # once; a no-op when the stanza exists`,
    `${describeCommand(runner.command(stanzaArgs(settings.stanza, 'backup', [`--type=${type}`])))}   # then expires by repo1-retention-full/-diff`,
    `${describeCommand(runner.command(infoArgs(settings.stanza)))} → ${settings.textfileDir}/healthmate_pgbackrest.prom`,
  ];
}

/**
 * `info --output=json` of our stanza. Named, not all stanzas: a `pgbackrest server` whose
 * tls-server-auth lists stanzas denies a client any command without one.
 */
function infoArgs(stanza: string): string[] {
  return stanzaArgs(stanza, 'info', ['--output=json']);
}

export async function readInfo(runner: PgbackrestRunner, stanza: string): Promise<StanzaInfo[]> {
  const result = await runPgbackrest(runner, infoArgs(stanza));
  return parseInfo(result.stdout);
}

/** Reads info and writes the textfile metrics, keeping the last verify result unless a new one is given. */
export async function refreshMetrics(settings: PgbackrestSettings, runner: PgbackrestRunner, verify?: VerifyResult): Promise<StanzaInfo[]> {
  const stanzas = await readInfo(runner, settings.stanza);
  const path = writePgbackrestMetrics(settings.textfileDir, pgbackrestMetricsText(stanzas, new Date(), verify ?? previousVerify(settings.textfileDir)));
  log.info(`metrics ${path}`);
  return stanzas;
}

export interface PhysicalBackupResult {
  label: string;
  type: PhysicalBackupType;
  seconds: number;
  backups: number;
}

/** stanza-create (idempotent), backup, then metrics from the repository's own record. */
export async function runPhysicalBackup(settings: PgbackrestSettings, runner: PgbackrestRunner, type: PhysicalBackupType): Promise<PhysicalBackupResult> {
  const started = Date.now();
  await runPgbackrest(runner, stanzaArgs(settings.stanza, 'stanza-create'));
  log.info(`pgbackrest backup --type=${type} of stanza ${settings.stanza} (${runner.where})`);
  await runPgbackrest(runner, stanzaArgs(settings.stanza, 'backup', [`--type=${type}`]));
  const stanzas = await refreshMetrics(settings, runner);
  const stanza = stanzas.find((s) => s.name === settings.stanza);
  const newest = stanza?.backup.at(-1);
  return { label: newest?.label ?? '?', type: newest?.type ?? type, seconds: (Date.now() - started) / 1000, backups: stanza?.backup.length ?? 0 };
}

/** What verify-pitr.ts runs, for --dry-run: verify on the repository host, or only the metrics. */
export function verifyPlan(settings: PgbackrestSettings, runner: PgbackrestRunner, metricsOnly: boolean): string[] {
  const info = `${describeCommand(runner.command(infoArgs(settings.stanza)))} → ${settings.textfileDir}/healthmate_pgbackrest.prom`;
  if (metricsOnly) return [`on the database side (${runner.where}):`, info];
  return [
    `on the repository host (${runner.where}):`,
    `${describeCommand(runner.command(verifyArgs(settings.stanza)))}   # reads every backup file and WAL segment`,
    `${info}   # with the verify result`,
  ];
}

function verifyArgs(stanza: string): string[] {
  return stanzaArgs(stanza, 'verify', ['--log-level-console=info']);
}

/**
 * pgBackRest 2.45 `verify` exits 0 even when it finds damage: its summary says
 * `status: error` and the log names each damaged file, as `invalid checksum '<file>'`
 * (or size) when the file reads but differs, and `invalid result <file>: [95] raised from
 * local-1 protocol: <reason>` when it cannot be read at all (a WAL segment whose encryption
 * does not decrypt).
 */
export function verifyProblems(output: string): string[] {
  const invalid = [...output.matchAll(/INFO: invalid (\w+) '([^']+)'/g)].map((m) => `invalid ${m[1]} ${m[2]}`);
  const unreadable = [...output.matchAll(/INFO: invalid result (\S+): (?:\[\d+\] )?(?:raised from \S+ protocol: )?([^\n]*)/g)].map(
    (m) => `invalid result ${m[1]} (${(m[2] as string).trim()})`,
  );
  const missing = [...output.matchAll(/(?:WARN|ERROR): \[\d+\]: ([^\n]*(?:missing|invalid)[^\n]*)/g)].map((m) => m[1] as string);
  const problems = [...invalid, ...unreadable, ...missing];
  if (problems.length === 0 && /^\s*status: error/m.test(output)) problems.push('status: error');
  return problems;
}

/**
 * `pgbackrest verify` reads every backup file and WAL segment in the
 * repository and checks it against the checksums pgBackRest recorded; the
 * result goes into the metrics either way. Throws when the repository is damaged.
 */
export async function runVerify(settings: PgbackrestSettings, runner: PgbackrestRunner): Promise<void> {
  const at = new Date();
  try {
    const result = await runPgbackrest(runner, verifyArgs(settings.stanza));
    const problems = verifyProblems(`${result.stdout}\n${result.stderr}`);
    if (problems.length > 0)
      throw new OperationError(
        `pgbackrest verify found a damaged repository (${runner.where}): ${problems.slice(0, 5).join('; ')}.`,
        'restore the repository host from its own backup, and take a new full backup now',
      );
  } catch (error) {
    await refreshMetrics(settings, runner, { at, ok: false }).catch(() => undefined);
    throw error;
  }
  await refreshMetrics(settings, runner, { at, ok: true });
}
