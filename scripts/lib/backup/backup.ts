import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { addCleanup } from '../cleanup.js';
import { OperationError } from '../errors.js';
import { log } from '../log.js';
import { readRecipients } from './age.js';
import { acquireLock, DiskFullError } from './lock.js';
import { type ArtifactEntry, isVerified, listArtifacts, type Manifest, manifestPath, writeManifest } from './manifest.js';
import { writeBackupMetrics } from './metrics.js';
import { dumpName, freeSecond, PARTIAL_SUFFIX, utcStamp } from './naming.js';
import { type PgRunner, pgError, psql, quoteIdent, quoteLiteral } from './pg.js';
import { checkFreeSpace } from './preflight.js';
import { capture, describeCommand } from './process.js';
import { planRetention } from './retention.js';
import type { BackupSettings } from './settings.js';
import { createScratchDatabase, rowCounts, SnapshotSession } from './snapshot.js';
import { streamToArtifact } from './stream.js';

export interface BackupOptions {
  verifyRestore: boolean;
  now?: () => Date;
}

export function dumpArgs(settings: BackupSettings, snapshot?: string): string[] {
  return ['--format=custom', `--compress=${settings.compressionLevel}`, ...(snapshot ? [`--snapshot=${snapshot}`] : [])];
}

/** What a run would do, for --dry-run (and the tests that assert on it). */
export function backupPlan(settings: BackupSettings, runner: PgRunner, options: BackupOptions): string[] {
  const db = settings.connection.database;
  const encrypted = settings.recipientsFile !== '';
  const now = (options.now ?? (() => new Date()))();
  const name = dumpName(db, now, encrypted);
  // The new backup takes part, so the plan shows what this run would really delete.
  const artifacts = listArtifacts(settings.dir, db);
  const retention = planRetention([...artifacts.filter(isVerified), { name, time: now }], settings.retention, now);
  return [
    `lock ${join(settings.dir, `.${db}.lock`)}`,
    `check free space in ${settings.dir} >= database size x ${settings.spaceFactor}`,
    `dump: ${describeCommand(runner.command('pg_dump', dumpArgs(settings)))}`,
    encrypted ? `encrypt with age to the recipients in ${settings.recipientsFile}` : 'no encryption (BACKUP_AGE_RECIPIENTS_FILE is empty)',
    `write ${join(settings.dir, name)} via ${name}${PARTIAL_SUFFIX}, fsync, rename`,
    options.verifyRestore
      ? 'verify: restore into a scratch database and compare row counts with the dump snapshot'
      : `verify: ${describeCommand(runner.command('pg_restore', ['-f', '/dev/null'], ''))} reading the whole dump`,
    `manifest ${manifestPath(name)}`,
    ...retention.remove.map((e) => `retention would delete ${e.name}`),
    ...unprovenNotes(artifacts),
    `retention keeps ${retention.keep.length} backups including the new one (days ${settings.retention.days}, weeks ${settings.retention.weeks}, months ${settings.retention.months})`,
    `metrics ${join(settings.textfileDir, 'healthmate_backup.prom')}`,
  ];
}

function retentionPlan(settings: BackupSettings, artifacts: ArtifactEntry[], now: Date) {
  return planRetention(artifacts.filter(isVerified), settings.retention, now);
}

/** Why retention leaves a dump alone, or undefined for a verified one. */
function unprovenReason(entry: ArtifactEntry): string | undefined {
  if (isVerified(entry)) return undefined;
  if (entry.manifest) return 'its manifest says it was not verified';
  return existsSync(manifestPath(entry.path)) ? 'its manifest is damaged' : 'it has no manifest';
}

/** One line per dump retention never deletes: nothing proves what it holds, so a person decides. */
function unprovenNotes(artifacts: ArtifactEntry[]): string[] {
  return artifacts.flatMap((entry) => {
    const reason = unprovenReason(entry);
    return reason ? [`retention leaves ${entry.name} alone: ${reason}, so nothing proves what it holds; check it and delete it by hand`] : [];
  });
}

/** Removes partial files a killed run left; only called while holding the lock. */
function removeStalePartials(dir: string, database: string): void {
  for (const name of readdirSync(dir)) {
    if (name.startsWith(`${database}-`) && name.endsWith(PARTIAL_SUFFIX)) {
      log.warn(`removing ${name} left by an interrupted run`);
      rmSync(join(dir, name), { force: true });
    }
  }
}

async function versions(runner: PgRunner): Promise<{ server: string; size: number; pgDump: string }> {
  const row = await psql(runner, "SELECT current_setting('server_version') || '|' || pg_database_size(current_database())");
  const [server, size] = row.split('|');
  const pgDump = await capture(runner.command('pg_dump', ['--version'], ''));
  return { server: server ?? '', size: Number(size), pgDump: pgDump.stdout.trim() };
}

function compareCounts(expected: Record<string, number>, actual: Record<string, number>): string[] {
  const tables = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  return [...tables].filter((t) => expected[t] !== actual[t]).map((t) => `${t}: dump snapshot ${expected[t] ?? 'missing'}, restored ${actual[t] ?? 'missing'}`);
}

/** Scratch databases of a killed --verify-restore run; only called while holding the lock. */
async function dropLeftoverScratch(runner: PgRunner, db: string): Promise<void> {
  const names = await psql(runner, `SELECT datname FROM pg_database WHERE datname ~ ${quoteLiteral(`^${db}_verify_[0-9]{8}t[0-9]{6}z$`)}`);
  for (const name of names.split('\n').filter(Boolean)) {
    log.warn(`dropping scratch database ${name} left by an interrupted run`);
    await psql(runner, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  }
}

export interface BackupResult {
  manifest: Manifest;
  deleted: string[];
  kept: number;
}

/** One verified, optionally encrypted backup of the env's database, then retention. */
export async function runBackup(settings: BackupSettings, runner: PgRunner, options: BackupOptions): Promise<BackupResult> {
  const now = options.now ?? (() => new Date());
  const db = settings.connection.database;
  const recipients = settings.recipientsFile ? readRecipients(settings.recipientsFile) : [];
  mkdirSync(settings.dir, { recursive: true, mode: 0o700 });
  mkdirSync(settings.textfileDir, { recursive: true });
  let started = now();
  const metrics = (status: 0 | 1) => writeBackupMetrics(settings.textfileDir, { database: db, attemptedAt: started, status }, listArtifacts(settings.dir, db));
  let release: () => void;
  try {
    release = acquireLock(join(settings.dir, `.${db}.lock`), `backup of ${db}`);
  } catch (error) {
    // A full disk is a failed backup (BackupFailed must fire); a lock held by another run is not.
    if (error instanceof DiskFullError) metrics(0);
    throw error;
  }
  try {
    removeStalePartials(settings.dir, db);
    metrics(0);
    const info = await versions(runner);
    const space = checkFreeSpace(settings.dir, info.size, settings.spaceFactor);
    log.info(`database ${db} is ${info.size} bytes (PostgreSQL ${info.server}); ${space.free} bytes free in ${settings.dir}`);

    const nameAt = (time: Date) => dumpName(db, time, recipients.length > 0);
    const free = await freeSecond(started, (time) => existsSync(join(settings.dir, nameAt(time))), now);
    if (!free) throw new OperationError(`${nameAt(started)} already exists in ${settings.dir} and the clock did not move on.`, 'check the system clock');
    started = free;
    const name = nameAt(started);
    const finalPath = join(settings.dir, name);
    let snapshotCounts: Record<string, number> | undefined;
    let restoredCounts: Record<string, number> | undefined;
    let dropScratch: (() => Promise<void>) | undefined;
    let session: SnapshotSession | undefined;
    let snapshot: string | undefined;
    const scratch = `${db}_verify_${utcStamp(started).toLowerCase()}`;
    if (options.verifyRestore) {
      await dropLeftoverScratch(runner, db);
      ({ session, snapshot } = await SnapshotSession.open(runner));
      const drop = await createScratchDatabase(runner, scratch);
      const removeCleanup = addCleanup(() => drop().catch(() => undefined));
      dropScratch = async () => {
        removeCleanup();
        await drop();
      };
    }
    try {
      log.info(`writing ${finalPath}`);
      const result = await streamToArtifact({
        dump: runner.command('pg_dump', dumpArgs(settings, snapshot)),
        // With --verify-restore the full read is a restore into the scratch database.
        verify: options.verifyRestore
          ? runner.command('pg_restore', ['--exit-on-error', '--no-owner', '--no-privileges'], scratch)
          : runner.command('pg_restore', ['-f', '/dev/null'], ''),
        verifierName: 'pg_restore',
        finalPath,
        recipients,
        dumpError: (stderr, exit) =>
          stderr && exit.code !== null
            ? pgError(stderr, settings.connection)
            : new OperationError(`pg_dump was killed (${exit.signal ?? `exit ${exit.code}`}); no backup was written.`),
      });
      if (session) {
        snapshotCounts = await session.rowCounts();
        restoredCounts = await rowCounts(runner, scratch);
        const differences = compareCounts(snapshotCounts, restoredCounts);
        if (differences.length > 0) {
          rmSync(finalPath, { force: true });
          throw new OperationError(`the restored scratch copy differs from the dump snapshot: ${differences.slice(0, 5).join('; ')}.`);
        }
        log.info(`restore check: ${Object.keys(restoredCounts).length} tables, row counts match the dump snapshot`);
      }
      const ended = now();
      const manifest: Manifest = {
        name,
        database: db,
        sha256: result.sha256,
        dumpSha256: result.dumpSha256,
        size: result.size,
        dumpSize: result.dumpSize,
        encrypted: recipients.length > 0,
        compressionLevel: settings.compressionLevel,
        pgDumpVersion: info.pgDump,
        serverVersion: info.server,
        start: started.toISOString(),
        end: ended.toISOString(),
        durationSeconds: (ended.getTime() - started.getTime()) / 1000,
        verified: true,
        ...(snapshotCounts ? { rowCounts: snapshotCounts } : {}),
      };
      writeManifest(settings.dir, manifest);
      if (result.dumpSize < 1024) log.warn(`the dump of ${db} is only ${result.dumpSize} bytes: is the database empty?`);

      const artifacts = listArtifacts(settings.dir, db);
      const plan = retentionPlan(settings, artifacts, ended);
      const unproven = unprovenNotes(artifacts);
      for (const entry of plan.remove) {
        rmSync(entry.path, { force: true });
        rmSync(manifestPath(entry.path), { force: true });
        log.info(`retention: deleted ${entry.name}`);
      }
      for (const note of unproven) log.warn(note);
      metrics(1);
      return { manifest, deleted: plan.remove.map((e) => e.name), kept: plan.keep.length };
    } finally {
      session?.close();
      await dropScratch?.();
    }
  } catch (error) {
    metrics(0);
    throw error;
  } finally {
    release();
  }
}
