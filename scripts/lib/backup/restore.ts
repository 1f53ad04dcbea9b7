import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { privateTempDir } from '../cleanup.js';
import { BadInputError, OperationError } from '../errors.js';
import { log } from '../log.js';
import { decryptStream } from './age.js';
import { type ArtifactEntry, isVerified, listArtifacts, loadManifest, type Manifest } from './manifest.js';
import { parseDumpName } from './naming.js';
import { type PgRunner, pgError, psql, quoteIdent, quoteLiteral } from './pg.js';
import { collectStderr, exited, spawnCommand } from './process.js';
import { syncFile } from './stream.js';

export interface ListedBackup {
  name: string;
  ageHours: number;
  size: number;
  verified: boolean;
  encrypted: boolean;
}

export function listBackups(dir: string, now = new Date()): ListedBackup[] {
  return listArtifacts(dir)
    .reverse()
    .map((e) => ({
      name: e.name,
      ageHours: (now.getTime() - e.time.getTime()) / 3_600_000,
      size: e.manifest?.size ?? statSync(e.path).size,
      verified: isVerified(e),
      encrypted: e.encrypted,
    }));
}

export function formatAge(hours: number): string {
  return hours < 48 ? `${hours.toFixed(1)}h` : `${(hours / 24).toFixed(1)}d`;
}

export interface Chosen {
  path: string;
  manifest: Manifest;
}

/** The artifact named by --file, or the newest verified one of `database` for --latest. */
export function chooseArtifact(dir: string, database: string, file: string | undefined): Chosen {
  let path: string;
  if (file) {
    path = existsSync(file) || file.includes('/') ? file : join(dir, file);
    if (!existsSync(path)) throw new BadInputError(`backup file ${file} does not exist.`, 'list the backups with --list');
  } else {
    const latest: ArtifactEntry | undefined = listArtifacts(dir, database).filter(isVerified).at(-1);
    if (!latest) throw new BadInputError(`there is no verified backup of ${database} in ${dir}.`, 'run backup-db.ts first or pass --file');
    path = latest.path;
  }
  const manifest = loadManifest(path);
  if (!manifest)
    throw new BadInputError(
      `${path} has no manifest (${basename(path)}.json), so its checksum cannot be checked.`,
      'restore only artifacts written by backup-db.ts',
    );
  return { path, manifest };
}

/** Reads the whole artifact and compares its sha256 with the manifest. */
export async function checkChecksum(chosen: Chosen): Promise<void> {
  const hash = createHash('sha256');
  let bytes = 0;
  // 1 MiB reads: the hash runs at disk speed (64 KiB reads made it a third slower).
  for await (const chunk of createReadStream(chosen.path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  const actual = hash.digest('hex');
  if (actual !== chosen.manifest.sha256 || bytes !== chosen.manifest.size)
    throw new OperationError(
      `${chosen.path} fails its checksum (sha256 ${actual.slice(0, 12)}..., ${bytes} bytes; the manifest says ${chosen.manifest.sha256.slice(0, 12)}..., ${chosen.manifest.size} bytes): it is damaged, refusing to use it.`,
      'restore an older backup (--list)',
    );
}

/** The plain dump as a stream: the file itself, or decrypted in stream. */
export async function dumpStream(chosen: Chosen, identities: string[]): Promise<Readable> {
  const source = createReadStream(chosen.path);
  if (!chosen.manifest.encrypted) return source;
  if (identities.length === 0) throw new BadInputError(`${chosen.path} is encrypted; pass the age identity file with --identity.`);
  return decryptStream(source, identities, chosen.path);
}

/** Full read of the dump by pg_restore (decrypting in stream): catches truncation that --list misses. */
export async function verifyArtifact(runner: PgRunner, chosen: Chosen, identities: string[]): Promise<void> {
  const stream = await dumpStream(chosen, identities);
  const child = spawnCommand(runner.command('pg_restore', ['-f', '/dev/null'], ''), { stdio: ['pipe', 'ignore', 'pipe'] });
  const stderr = collectStderr(child);
  const [, exit] = await Promise.all([pipeline(stream, child.stdin as NodeJS.WritableStream).catch(() => undefined), exited(child)]);
  if (exit.code !== 0)
    throw new OperationError(`${chosen.path} is not a complete dump: pg_restore says ${stderr().split('\n').at(-1) || `exit ${exit.code}`}.`);
}

/** pg_restore -j needs a seekable file: an encrypted artifact is decrypted into a private temp folder first. */
async function plainFile(chosen: Chosen, identities: string[]): Promise<string> {
  if (!chosen.manifest.encrypted) return chosen.path;
  const stream = await dumpStream(chosen, identities);
  // Beside the artifact (its disk has room for it), not in TMPDIR.
  const path = join(privateTempDir('.restore-', dirname(chosen.path)).path, 'plain.dump');
  await pipeline(stream, createWriteStream(path, { mode: 0o600 }));
  await syncFile(path);
  return path;
}

export function defaultTargetDb(chosen: Chosen): string {
  const parsed = parseDumpName(basename(chosen.path));
  const stamp = parsed
    ? basename(chosen.path)
        .slice(parsed.database.length + 1, parsed.database.length + 17)
        .toLowerCase()
    : 'copy';
  return `${chosen.manifest.database}_restore_${stamp}`;
}

export interface RestoreOptions {
  targetDb: string;
  force: boolean;
  jobs: number;
  identities: string[];
}

async function targetState(runner: PgRunner, db: string): Promise<'missing' | 'empty' | 'non-empty'> {
  const exists = await psql(runner, `SELECT count(*) FROM pg_database WHERE datname = ${quoteLiteral(db)}`);
  if (exists === '0') return 'missing';
  const tables = await psql(
    runner,
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m','S') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'",
    db,
  );
  return tables === '0' ? 'empty' : 'non-empty';
}

export async function restoreArtifact(runner: PgRunner, chosen: Chosen, options: RestoreOptions): Promise<{ seconds: number; targetDb: string }> {
  const started = Date.now();
  if (chosen.manifest.encrypted && options.identities.length === 0)
    throw new BadInputError(`${chosen.path} is encrypted; pass the age identity file with --identity.`);
  const state = await targetState(runner, options.targetDb);
  if (state === 'non-empty' && !options.force)
    throw new BadInputError(
      `database "${options.targetDb}" already holds tables; refusing to restore over it.`,
      'pick another --target-db, or pass --force to replace its objects',
    );
  if (state !== 'missing') {
    // A database that was there before: nothing touches it before the checksum passes.
    log.info(`checking the sha256 of ${chosen.path}`);
    await checkChecksum(chosen);
    await pgRestore(runner, chosen, options, state === 'non-empty');
    return { seconds: (Date.now() - started) / 1000, targetDb: options.targetDb };
  }
  // A new database of our own: restore it while the checksum is read (the
  // restore no longer waits for a second full read), and drop it again when
  // either fails, so a damaged dump or a failed restore leaves no database behind.
  await psql(runner, `CREATE DATABASE ${quoteIdent(options.targetDb)}`);
  log.info(`checking the sha256 of ${chosen.path} while pg_restore runs`);
  const stop = new AbortController();
  const checksum = checkChecksum(chosen).then(
    () => undefined,
    (error: unknown) => {
      stop.abort();
      return error;
    },
  );
  const restore = pgRestore(runner, chosen, options, false, stop.signal, yieldToRestore).then(
    () => undefined,
    (error: unknown) => error,
  );
  const failure = (await checksum) ?? (await restore);
  if (failure !== undefined) {
    await restore;
    await psql(runner, `DROP DATABASE IF EXISTS ${quoteIdent(options.targetDb)} WITH (FORCE)`).catch((error: unknown) =>
      log.warn(`database ${options.targetDb} was left behind (${error instanceof Error ? error.message : String(error)}); drop it by hand.`),
    );
    throw failure;
  }
  return { seconds: (Date.now() - started) / 1000, targetDb: options.targetDb };
}

/**
 * Once pg_restore runs (it keeps the normal priority it was started with), this
 * process drops to the lowest: the checksum that overlaps the restore then uses
 * the CPU time pg_restore and the server leave idle instead of competing with
 * them (on 2 cores, restore-db went from 1.17x to 1.10x raw pg_restore -j2).
 */
function yieldToRestore(): void {
  try {
    setPriority(constants.priority.PRIORITY_LOW);
  } catch (error) {
    log.debug(`priority not lowered (${error instanceof Error ? error.message : String(error)}): the checksum competes with the restore`);
  }
}

/** pg_restore -j of the artifact into the target database; `stop` kills it; `started` runs once it is spawned. */
async function pgRestore(runner: PgRunner, chosen: Chosen, options: RestoreOptions, clean: boolean, stop?: AbortSignal, started?: () => void): Promise<void> {
  const file = await plainFile(chosen, options.identities);
  stop?.throwIfAborted();
  const args = ['--exit-on-error', `--jobs=${options.jobs}`, ...(clean ? ['--clean', '--if-exists'] : []), file];
  log.info(`restoring into database ${options.targetDb} with pg_restore -j ${options.jobs}`);
  const child = spawnCommand(runner.command('pg_restore', args, options.targetDb), { stdio: ['ignore', 'ignore', 'pipe'] });
  started?.();
  const kill = (): void => {
    child.kill('SIGTERM');
  };
  stop?.addEventListener('abort', kill, { once: true });
  const stderr = collectStderr(child);
  const exit = await exited(child).finally(() => stop?.removeEventListener('abort', kill));
  stop?.throwIfAborted();
  if (exit.code !== 0) throw pgError(stderr() || `pg_restore exited with ${exit.code ?? exit.signal}`, runner.connection, options.targetDb);
}
