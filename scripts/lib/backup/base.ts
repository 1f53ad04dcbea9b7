import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import { log } from '../log.js';
import { readRecipients } from './age.js';
import { acquireLock } from './lock.js';
import { utcStamp } from './naming.js';
import { type PgRunner, pgError, psql } from './pg.js';
import { checkFreeSpace } from './preflight.js';
import { type Command, describeCommand } from './process.js';
import type { BackupSettings } from './settings.js';
import { streamToArtifact } from './stream.js';

/** A base backup for point-in-time recovery: base-<UTC start>.tar.gz[.age] plus a manifest. */
export interface BaseManifest {
  name: string;
  sha256: string;
  size: number;
  encrypted: boolean;
  start: string;
  end: string;
  serverVersion: string;
}

const BASE_RE = /^base-(\d{8}T\d{6}Z)\.tar\.gz(\.age)?$/;

export function parseBaseName(name: string): { stamp: string; encrypted: boolean } | undefined {
  const m = BASE_RE.exec(name);
  return m ? { stamp: m[1] as string, encrypted: m[2] !== undefined } : undefined;
}

function baseCommands(runner: PgRunner): { dump: Command; verify: Command } {
  // -D - writes one tar to stdout; -X fetch puts the WAL needed for consistency into it.
  const dump = runner.command('pg_basebackup', ['-D', '-', '-F', 'tar', '-z', '-X', 'fetch', '-c', 'fast', '-l', 'healthmate base backup'], '');
  return { dump, verify: { file: 'tar', args: ['-tzf', '-'] } };
}

export function baseBackupPlan(settings: BackupSettings, runner: PgRunner): string[] {
  const { dump, verify } = baseCommands(runner);
  return [
    `lock ${join(settings.baseDir, '.base.lock')}`,
    `base backup: ${describeCommand(dump)}`,
    settings.recipientsFile ? `encrypt with age to the recipients in ${settings.recipientsFile}` : 'no encryption',
    `verify: ${describeCommand(verify)} reading the whole archive`,
    `write ${settings.baseDir}/base-<UTC>.tar.gz${settings.recipientsFile ? '.age' : ''} and its manifest`,
    `WAL archive expected in ${settings.walDir} (POSTGRES_WAL_ARCHIVE_DIR on the server)`,
  ];
}

export async function runBaseBackup(settings: BackupSettings, runner: PgRunner): Promise<{ path: string; size: number }> {
  const recipients = settings.recipientsFile ? readRecipients(settings.recipientsFile) : [];
  mkdirSync(settings.baseDir, { recursive: true, mode: 0o700 });
  const release = acquireLock(join(settings.baseDir, '.base.lock'), 'base backup');
  try {
    const row = await psql(
      runner,
      "SELECT current_setting('server_version') || '|' || current_setting('archive_mode') || '|' || pg_database_size(current_database())",
    );
    const [serverVersion, archiveMode, size] = row.split('|');
    if (archiveMode !== 'on' && archiveMode !== 'always')
      log.warn('archive_mode is off on the server: this base backup can restore, but not to a later point in time');
    checkFreeSpace(settings.baseDir, Number(size), settings.spaceFactor);
    const started = new Date();
    const name = `base-${utcStamp(started)}.tar.gz${recipients.length > 0 ? '.age' : ''}`;
    const path = join(settings.baseDir, name);
    const { dump, verify } = baseCommands(runner);
    const result = await streamToArtifact({
      dump,
      verify,
      verifierName: 'tar -tz',
      finalPath: path,
      recipients,
      dumpError: (stderr, exit) =>
        stderr && exit.code !== null ? pgError(stderr, settings.connection) : new OperationError(`pg_basebackup was killed (${exit.signal ?? exit.code}).`),
    });
    const manifest: BaseManifest = {
      name,
      sha256: result.sha256,
      size: result.size,
      encrypted: recipients.length > 0,
      start: started.toISOString(),
      end: new Date().toISOString(),
      serverVersion: serverVersion ?? '',
    };
    writeFileAtomic(`${path}.json`, `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
    return { path, size: result.size };
  } finally {
    release();
  }
}
