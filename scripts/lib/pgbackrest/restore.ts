import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeCommand } from '../backup/process.js';
import { BadInputError } from '../errors.js';
import { type PgbackrestRunner, runPgbackrest, stanzaArgs } from './command.js';
import type { PgbackrestSettings } from './settings.js';
import { describeTarget, type RestoreTarget, targetArgs } from './target.js';

export interface RestoreOptions {
  target: RestoreTarget;
  /** The data folder as pgBackRest on the database side sees it. */
  dataDir: string;
  /** Reuse matching files in an existing (stopped) data folder instead of requiring an empty one. */
  delta: boolean;
}

export function restoreArgs(settings: PgbackrestSettings, options: RestoreOptions): string[] {
  return stanzaArgs(settings.stanza, 'restore', [
    `--pg1-path=${options.dataDir}`,
    ...targetArgs(options.target),
    ...(options.delta ? ['--delta'] : []),
    '--log-level-console=info',
  ]);
}

export function restorePlan(settings: PgbackrestSettings, runner: PgbackrestRunner, options: RestoreOptions): string[] {
  return [
    `on the database side (${runner.where}), restore to ${describeTarget(options.target)} into ${options.dataDir}${options.delta ? ' (--delta: files that match are kept)' : ''}:`,
    describeCommand(runner.command(restoreArgs(settings, options))),
    'then start PostgreSQL on that folder: it fetches WAL with archive-get, stops at the target and promotes',
  ];
}

/** A new or empty folder, or with --delta a stopped PostgreSQL data folder: checked before pgBackRest touches anything. */
export function checkLocalDataDir(dir: string, delta: boolean): void {
  const entries = existsSync(dir) ? readdirSync(dir) : [];
  if (delta) {
    if (!existsSync(join(dir, 'PG_VERSION')))
      throw new BadInputError(`--delta needs an existing PostgreSQL data folder, and ${dir} is not one.`, 'drop --delta to restore into a new folder');
    if (existsSync(join(dir, 'postmaster.pid')))
      throw new BadInputError(`${dir} belongs to a running PostgreSQL (postmaster.pid); stop it before a --delta restore.`);
    return;
  }
  if (entries.length > 0) throw new BadInputError(`${dir} is not empty; restore into a new folder, or pass --delta to overwrite a stopped cluster.`);
}

export async function runRestore(settings: PgbackrestSettings, runner: PgbackrestRunner, options: RestoreOptions): Promise<string> {
  const result = await runPgbackrest(runner, restoreArgs(settings, options));
  return `${result.stdout}${result.stderr}`;
}
