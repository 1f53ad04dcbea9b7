import { chmodSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BadInputError, OperationError } from '../errors.js';
import { decryptStream } from './age.js';
import { type BaseManifest, parseBaseName } from './base.js';
import { quoteLiteral } from './pg.js';
import { type Command, collectStderr, describeCommand, exited, spawnCommand } from './process.js';
import { checkChecksum } from './restore.js';

export interface BaseEntry {
  path: string;
  manifest: BaseManifest;
}

/** Verified base backups in `dir`, oldest first. */
export function listBaseBackups(dir: string): BaseEntry[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => parseBaseName(n))
    .flatMap((name) => {
      try {
        const manifest = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as BaseManifest;
        return [{ path: join(dir, name), manifest }];
      } catch {
        return [];
      }
    })
    .sort((a, b) => a.manifest.end.localeCompare(b.manifest.end));
}

export interface TargetTime {
  date: Date;
  /** The same instant in PostgreSQL's input syntax, keeping microseconds a JS Date would drop. */
  postgres: string;
}

/** ISO 8601 with an explicit zone, so "to 14:00" cannot mean two different instants. */
export function parseTargetTime(text: string): TargetTime {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)(Z|[+-]\d{2}(?::?\d{2})?)$/.exec(text);
  const date = new Date(text);
  if (!m || Number.isNaN(date.getTime())) throw new BadInputError(`--to must be a timestamp with a time zone such as 2026-12-31T14:05:00Z, not "${text}".`);
  return { date, postgres: `${m[1]} ${m[2]}${m[3] === 'Z' ? '+00' : m[3]}` };
}

/** The newest base backup that ended before `to`: recovery replays WAL from its end onward. */
export function chooseBase(entries: BaseEntry[], to: Date, dir: string): BaseEntry {
  const usable = entries.filter((e) => Date.parse(e.manifest.end) < to.getTime());
  const chosen = usable.at(-1);
  if (!chosen)
    throw new BadInputError(
      `no base backup in ${dir} ended before ${to.toISOString()}${entries[0] ? ` (the oldest ended ${entries[0].manifest.end})` : ''}.`,
      'pick a later --to, or take a base backup with backup-db.ts --base',
    );
  return chosen;
}

export interface PitrOptions {
  base: BaseEntry;
  to: TargetTime;
  targetDir: string;
  /** The WAL archive as the recovering server sees it. */
  walArchive: string;
  identities: string[];
  owner?: string;
}

export function recoverySettings(to: TargetTime, walArchive: string): string {
  return [
    '# Added by restore-pitr.ts: replay archived WAL up to the target time, then open read-write.',
    `restore_command = ${quoteLiteral(`cp "${walArchive}/%f" "%p"`)}`,
    `recovery_target_time = ${quoteLiteral(to.postgres)}`,
    "recovery_target_action = 'promote'",
    '',
  ].join('\n');
}

export function pitrPlan(options: PitrOptions): string[] {
  return [
    `check the sha256 of ${options.base.path} (base backup ended ${options.base.manifest.end})`,
    `${options.base.manifest.encrypted ? 'decrypt with the age identity and ' : ''}extract into ${options.targetDir} (tar -xz)`,
    `append to ${join(options.targetDir, 'postgresql.auto.conf')}: restore_command from ${options.walArchive}, recovery_target_time ${options.to.postgres}, promote`,
    `create ${join(options.targetDir, 'recovery.signal')}`,
    ...(options.owner ? [`chown -R ${options.owner} ${options.targetDir}`] : []),
  ];
}

/** Prepares a data directory that recovers to `to` when PostgreSQL starts on it. */
export async function preparePitr(options: PitrOptions): Promise<void> {
  const { base, targetDir } = options;
  if (existsSync(targetDir) && readdirSync(targetDir).length > 0)
    throw new BadInputError(`target directory ${targetDir} is not empty; refusing to overwrite it.`, 'pass a new or empty --target-dir');
  if (base.manifest.encrypted && options.identities.length === 0)
    throw new BadInputError(`${base.path} is encrypted; pass the age identity file with --identity.`);
  await checkChecksum({ path: base.path, manifest: { ...base.manifest } as never });
  mkdirSync(targetDir, { recursive: true, mode: 0o700 });
  chmodSync(targetDir, 0o700);
  const source = base.manifest.encrypted ? await decryptStream(createReadStream(base.path), options.identities, base.path) : createReadStream(base.path);
  const extract: Command = { file: 'tar', args: ['-xzf', '-', '-C', targetDir] };
  const child = spawnCommand(extract, { stdio: ['pipe', 'ignore', 'pipe'] });
  const stderr = collectStderr(child);
  const [, exit] = await Promise.all([pipeline(source, child.stdin as NodeJS.WritableStream).catch(() => undefined), exited(child)]);
  if (exit.code !== 0) throw new OperationError(`extracting ${base.path} failed: ${stderr() || `${describeCommand(extract)} exited ${exit.code}`}`);
  await appendFile(join(targetDir, 'postgresql.auto.conf'), recoverySettings(options.to, options.walArchive));
  writeFileSync(join(targetDir, 'recovery.signal'), '');
  if (options.owner) {
    const chown = spawnCommand({ file: 'chown', args: ['-R', options.owner, targetDir] }, { stdio: 'ignore' });
    const result = await exited(chown);
    if (result.code !== 0) throw new OperationError(`chown -R ${options.owner} ${targetDir} failed.`);
  }
}
