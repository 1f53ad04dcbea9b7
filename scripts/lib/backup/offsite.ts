import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { privateTempDir } from '../cleanup.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError, OperationError } from '../errors.js';
import { log } from '../log.js';
import { requireTool } from '../tools.js';
import { acquireLock } from './lock.js';
import type { Manifest } from './manifest.js';
import { MANIFEST_SUFFIX, PARTIAL_SUFFIX } from './naming.js';
import { offsiteMetricsFile, writeOffsiteMetrics } from './offsite-metrics.js';
import { type Captured, type Command, capture, collectStderr, describeCommand, exited, spawnCommand } from './process.js';
import type { Chosen, ListedBackup } from './restore.js';
import { HashCounter, syncFile } from './stream.js';

/**
 * Offsite copies (3-2-1) with rclone: every verified artifact and its manifest
 * go to BACKUP_OFFSITE_REMOTE. A copy counts only once it was read back from
 * the remote and its sha256 equals the manifest's: rclone 1.60's sftp backend
 * offers md5/sha1 only and S3 an md5 ETag, so the remote cannot hash sha256 itself.
 */
export interface OffsiteTarget {
  /** `remote:path` as configured, e.g. offsite:healthmate/prod. */
  remote: string;
  /** rclone --config; '' = no file, the remote comes from RCLONE_CONFIG_<NAME>_* variables. */
  configFile: string;
  /** RCLONE_CONFIG_* lines of the env file; the process env, like for every variable, wins. */
  env: Record<string, string>;
  /** Seconds without a byte before a try fails (BACKUP_OFFSITE_IDLE_TIMEOUT, rclone's --timeout). */
  idleTimeout: number;
}

/** The env's offsite target, or undefined when BACKUP_OFFSITE_REMOTE is empty. */
export function offsiteTarget(env: LoadedEnv): OffsiteTarget | undefined {
  const remote = env.values.BACKUP_OFFSITE_REMOTE;
  if (!remote) return undefined;
  const fromFile = Object.fromEntries(Object.entries(env.rclone ?? {}).filter(([name]) => process.env[name] === undefined));
  return { remote, configFile: env.values.BACKUP_OFFSITE_RCLONE_CONFIG, env: fromFile, idleTimeout: env.values.BACKUP_OFFSITE_IDLE_TIMEOUT };
}

export function remoteName(target: OffsiteTarget): string {
  return target.remote.slice(0, target.remote.indexOf(':'));
}

/** remote:path/part/part, without doubled slashes. */
export function remotePath(target: OffsiteTarget, ...parts: string[]): string {
  const colon = target.remote.indexOf(':');
  const path = [target.remote.slice(colon + 1), ...parts].filter(Boolean).join('/').replace(/\/+/g, '/');
  return `${target.remote.slice(0, colon + 1)}${path}`;
}

/**
 * No retry of a whole operation, two tries of each request: a remote that accepts and never
 * answers fails the run after about 2 × --timeout (the idle timeout, 30 s by default) = one
 * minute; one that does not accept, after 2 × --contimeout (15 s). The next run retries. (3
 * tries × 60 s took 191 s.) 30 s without a byte is long for an upload that is moving.
 */
function rcloneFlags(target: OffsiteTarget): string[] {
  return ['--retries', '1', '--low-level-retries', '2', '--contimeout', '15s', '--timeout', `${target.idleTimeout}s`];
}

export function rcloneCommand(target: OffsiteTarget, args: string[]): Command {
  return { file: 'rclone', args: ['--config', target.configFile, ...rcloneFlags(target), ...args], env: target.env };
}

/** rclone's last error line without its timestamp. */
function rcloneError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2} /, '').trim())
    .filter(Boolean);
  return lines.at(-1) ?? 'no error output';
}

async function rclone(target: OffsiteTarget, args: string[], input?: string): Promise<Captured> {
  const command = rcloneCommand(target, args);
  return capture({ ...command, file: requireTool('rclone') }, input);
}

async function rcloneOk(target: OffsiteTarget, args: string[], what: string): Promise<string> {
  const result = await rclone(target, args);
  if (result.code !== 0) throw new OperationError(`${what} failed: rclone says ${rcloneError(result.stderr)}`);
  return result.stdout;
}

/** Refuses a remote rclone does not know (bad input: nothing is written), with the two ways to define it. */
export async function checkRemoteDefined(target: OffsiteTarget): Promise<void> {
  const names = (await rcloneOk(target, ['listremotes'], 'rclone listremotes')).split('\n').map((l) => l.trim().replace(/:$/, ''));
  const name = remoteName(target);
  if (!names.includes(name))
    throw new BadInputError(
      `BACKUP_OFFSITE_REMOTE names the rclone remote "${name}", which is not defined.`,
      `define it with RCLONE_CONFIG_${name.toUpperCase().replace(/-/g, '_')}_TYPE=... lines (env file or environment) or in BACKUP_OFFSITE_RCLONE_CONFIG; see docs/backup-restore.md`,
    );
}

/** Files in one remote folder: name → size. A folder that does not exist yet is empty (rclone exit 3). */
export async function listRemote(target: OffsiteTarget, subdir: string): Promise<Map<string, number>> {
  const result = await rclone(target, ['lsjson', '--files-only', '--no-mimetype', remotePath(target, subdir)]);
  if (result.code === 3) return new Map();
  if (result.code !== 0) throw new OperationError(`listing ${remotePath(target, subdir)} failed: rclone says ${rcloneError(result.stderr)}`);
  const entries = JSON.parse(result.stdout) as { Name: string; Size: number }[];
  return new Map(entries.map((e) => [e.Name, e.Size]));
}

/** Streams a remote file through sha256 into `sink` (a file, or nothing); nothing is held in memory. */
async function readRemote(target: OffsiteTarget, path: string, sink?: string): Promise<{ sha256: string; size: number }> {
  const child = spawnCommand({ ...rcloneCommand(target, ['cat', path]), file: requireTool('rclone') }, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = collectStderr(child);
  const hasher = new HashCounter();
  const drain = async (source: AsyncIterable<Buffer>) => {
    for await (const _ of source) {
      // only the hash matters
    }
  };
  const [streamed, exit] = await Promise.all([
    pipeline(child.stdout as NodeJS.ReadableStream, hasher, sink ? createWriteStream(sink, { mode: 0o600 }) : drain).then(
      () => undefined,
      (error: Error) => error,
    ),
    exited(child),
  ]);
  if (exit.code !== 0) throw new OperationError(`reading ${path} back failed: rclone says ${rcloneError(stderr())}`);
  if (streamed) throw new OperationError(`reading ${path} back failed: ${streamed.message}`);
  return { sha256: hasher.hash.digest('hex'), size: hasher.bytes };
}

/** One local artifact that should exist offsite. */
export interface OffsiteArtifact {
  name: string;
  path: string;
  time: Date;
  sha256: string;
  size: number;
}

/** A family of artifacts (the dumps of one database, or the config tarballs) and its retention rule. */
export interface OffsiteSet {
  /** Metrics label: the database name, or "config". */
  label: string;
  /** Remote folder below BACKUP_OFFSITE_REMOTE ('' for the dumps, like locally). */
  subdir: string;
  /** Holds the lock file; the local folder of the artifacts. */
  localDir: string;
  /** Verified local artifacts, oldest first. */
  artifacts: OffsiteArtifact[];
  /** The time in an artifact name of this set, or undefined for any other file. */
  parse(name: string): Date | undefined;
  /** Names to keep among verified artifacts, by the same rule as locally. */
  retain(entries: { name: string; time: Date }[], now: Date): Set<string>;
}

export interface OffsitePlan {
  /** Local artifacts the remote lacks (or holds with another size, or without a manifest), newest first. */
  copy: OffsiteArtifact[];
  /** Remote files retention removes (artifacts with their manifests) and partial uploads of killed runs. */
  remove: string[];
  /** Verified remote artifacts after the run. */
  keep: string[];
}

/** Pure: what a run does, given the remote listing. */
export function planOffsite(set: OffsiteSet, remote: Map<string, number>, now: Date): OffsitePlan {
  const verifiedRemote = [...remote.keys()].filter((n) => set.parse(n) && remote.has(`${n}${MANIFEST_SUFFIX}`));
  const dated = new Map<string, Date>();
  for (const name of verifiedRemote) dated.set(name, set.parse(name) as Date);
  for (const a of set.artifacts) dated.set(a.name, a.time);
  const keep = set.retain(
    [...dated].map(([name, time]) => ({ name, time })),
    now,
  );
  const copy = set.artifacts.filter((a) => keep.has(a.name) && !(verifiedRemote.includes(a.name) && remote.get(a.name) === a.size)).reverse();
  const remove = [
    ...verifiedRemote.filter((n) => !keep.has(n)).flatMap((n) => [n, `${n}${MANIFEST_SUFFIX}`]),
    ...[...remote.keys()].filter((n) => n.endsWith(PARTIAL_SUFFIX) && set.parse(n.slice(0, -PARTIAL_SUFFIX.length))),
  ];
  return { copy, remove, keep: [...keep].sort() };
}

/**
 * The offsite part of --dry-run: checks the remote is defined and lists it (read-only),
 * so the plan names what would be copied and deleted; the new artifact joins the copies.
 */
export async function describeOffsitePlan(target: OffsiteTarget, set: OffsiteSet, now = new Date()): Promise<string[]> {
  await checkRemoteDefined(target);
  const dir = remotePath(target, set.subdir);
  // The new artifact takes part, as in the real run, so retention shows what it would really delete.
  const upcoming = { name: '<new>', path: '', time: now, sha256: '', size: 0 };
  const plan = planOffsite({ ...set, artifacts: [...set.artifacts, upcoming] }, await listRemote(target, set.subdir), now);
  const others = plan.copy.filter((a) => a !== upcoming);
  return [
    `offsite: copy the new artifact${others.length ? ` and ${others.map((a) => a.name).join(', ')}` : ''} to ${dir} as <name>${PARTIAL_SUFFIX}: ${describeCommand(rcloneCommand(target, ['copyto', '<file>', `${dir}/<name>${PARTIAL_SUFFIX}`]))}`,
    'offsite: read each copy back (rclone cat), compare its sha256 with the manifest, rename it to <name> (rclone moveto), copy the manifest',
    ...plan.remove.filter((n) => !n.endsWith(MANIFEST_SUFFIX)).map((n) => `offsite retention would delete ${remotePath(target, set.subdir, n)}`),
    `offsite: metrics ${offsiteMetricsFile(set.label)}`,
  ];
}

export function describeOffsiteResult(target: OffsiteTarget, set: OffsiteSet, result: OffsiteResult): string {
  return `offsite ${remotePath(target, set.subdir)}: ${result.copied.length} copied and verified, ${result.removed.length} deleted by retention, ${result.kept} kept`;
}

async function copyOne(target: OffsiteTarget, set: OffsiteSet, artifact: OffsiteArtifact): Promise<void> {
  const final = remotePath(target, set.subdir, artifact.name);
  const partial = `${final}${PARTIAL_SUFFIX}`;
  log.info(`offsite: copying ${artifact.name} (${artifact.size} bytes) to ${final}`);
  // Progress every 30 s on long uploads, at NOTICE level so it shows without -v.
  await rcloneOk(
    target,
    ['copyto', '--stats', '30s', '--stats-one-line', '--stats-log-level', 'NOTICE', artifact.path, partial],
    `copying ${artifact.name} to ${partial}`,
  );
  const back = await readRemote(target, partial);
  if (back.sha256 !== artifact.sha256 || back.size !== artifact.size) {
    await rclone(target, ['deletefile', partial]);
    throw new OperationError(
      `the copy of ${artifact.name} on ${target.remote} reads back as sha256 ${back.sha256.slice(0, 12)}... (${back.size} bytes), the manifest says ${artifact.sha256.slice(0, 12)}... (${artifact.size} bytes); removed it.`,
    );
  }
  await rcloneOk(target, ['moveto', partial, final], `renaming ${partial}`);
  await rcloneOk(target, ['copyto', `${artifact.path}${MANIFEST_SUFFIX}`, `${final}${MANIFEST_SUFFIX}`], `copying the manifest of ${artifact.name}`);
  log.info(`offsite: ${artifact.name} verified on ${target.remote} (sha256 ${artifact.sha256.slice(0, 12)}...)`);
}

export interface OffsiteResult {
  copied: string[];
  removed: string[];
  kept: number;
}

/**
 * Brings the remote up to date with the local verified artifacts: copies what
 * is missing (this run's new artifact, and whatever an earlier failed run left
 * out), verifies each by reading it back, then applies retention remotely.
 * Metrics say 0 from the start, so a run killed midway reads as failed.
 */
export async function copyOffsite(target: OffsiteTarget, set: OffsiteSet, textfileDir: string, now = new Date()): Promise<OffsiteResult> {
  await checkRemoteDefined(target);
  const release = acquireLock(join(set.localDir, `.offsite-${set.label}.lock`), `offsite copy of ${set.label}`);
  const metrics = (status: 0 | 1, missing: number) =>
    writeOffsiteMetrics(textfileDir, { label: set.label, attemptedAt: now, status, missing, ...(status === 1 ? { verifiedAt: new Date() } : {}) });
  let missing = set.artifacts.length;
  try {
    metrics(0, missing);
    const plan = planOffsite(set, await listRemote(target, set.subdir), now);
    missing = plan.copy.length;
    const copied: string[] = [];
    for (const artifact of plan.copy) {
      await copyOne(target, set, artifact);
      copied.push(artifact.name);
      missing -= 1;
    }
    for (const name of plan.remove) {
      await rcloneOk(target, ['deletefile', remotePath(target, set.subdir, name)], `removing ${name} from ${target.remote}`);
      if (!name.endsWith(MANIFEST_SUFFIX)) log.info(`offsite retention: deleted ${name}`);
    }
    metrics(1, 0);
    return { copied, removed: plan.remove.filter((n) => !n.endsWith(MANIFEST_SUFFIX)), kept: plan.keep.length };
  } catch (error) {
    metrics(0, missing);
    const reason = error instanceof Error ? error.message : String(error);
    throw new OperationError(
      `offsite copy to ${target.remote} failed (${missing} artifact(s) not there yet): ${reason.replace(/\.$/, '')}. The local backup is intact; the next run copies what is missing.`,
      error instanceof OperationError ? error.hint : undefined,
      { cause: error },
    );
  } finally {
    release();
  }
}

export interface RemoteBackup {
  name: string;
  time: Date;
  size: number;
}

/** Verified artifacts of `set` on the remote (with a manifest), oldest first. */
export async function listOffsite(target: OffsiteTarget, set: Pick<OffsiteSet, 'subdir' | 'parse'>): Promise<RemoteBackup[]> {
  await checkRemoteDefined(target);
  const remote = await listRemote(target, set.subdir);
  return [...remote]
    .filter(([name]) => set.parse(name) && remote.has(`${name}${MANIFEST_SUFFIX}`))
    .map(([name, size]) => ({ name, size, time: set.parse(name) as Date }))
    .sort((a, b) => a.time.getTime() - b.time.getTime() || a.name.localeCompare(b.name));
}

/** The rows restore-db.ts --list prints, newest first: every listed remote artifact has its manifest. */
export async function listOffsiteBackups(target: OffsiteTarget, set: Pick<OffsiteSet, 'subdir' | 'parse'>, now = new Date()): Promise<ListedBackup[]> {
  return (await listOffsite(target, set)).reverse().map((b) => ({
    name: b.name,
    ageHours: (now.getTime() - b.time.getTime()) / 3_600_000,
    size: b.size,
    verified: true,
    encrypted: b.name.endsWith('.age'),
  }));
}

export function describeFetch(target: OffsiteTarget, set: Pick<OffsiteSet, 'subdir'>, name: string, localDir: string): string {
  return `download ${remotePath(target, set.subdir, name)} (rclone cat, in stream) into a private temp folder in ${localDir}; check its sha256 against its manifest`;
}

/**
 * Downloads one remote artifact (streamed, hashed on the way) into a private
 * temp folder under `localDir` that is removed on every exit, and refuses it
 * unless its sha256 and size equal its manifest's.
 */
export async function fetchOffsite(target: OffsiteTarget, set: Pick<OffsiteSet, 'subdir'>, name: string, localDir: string): Promise<Chosen> {
  const path = remotePath(target, set.subdir, name);
  const manifestText = await rcloneOk(target, ['cat', `${path}${MANIFEST_SUFFIX}`], `reading the manifest of ${path}`);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestText) as Manifest;
  } catch {
    throw new OperationError(
      `the manifest ${path}${MANIFEST_SUFFIX} is not JSON: the offsite copy is damaged.`,
      'restore another backup (--list --from-offsite)',
    );
  }
  mkdirSync(localDir, { recursive: true, mode: 0o700 });
  const file = join(privateTempDir('.offsite-', localDir).path, name);
  log.info(`offsite: downloading ${path} (${manifest.size} bytes)`);
  const got = await readRemote(target, path, file);
  await syncFile(file);
  if (got.sha256 !== manifest.sha256 || got.size !== manifest.size)
    throw new OperationError(
      `${path} fails its checksum (sha256 ${got.sha256.slice(0, 12)}..., ${got.size} bytes; the manifest says ${manifest.sha256.slice(0, 12)}..., ${manifest.size} bytes): the offsite copy is damaged, refusing to use it.`,
      'restore another backup (--list --from-offsite); delete the damaged copy and its .json on the remote, and the next backup run copies it again while the local one exists',
    );
  return { path: file, manifest };
}

/** The remote artifact --file names, or the newest for --latest. */
export async function chooseOffsite(target: OffsiteTarget, set: Pick<OffsiteSet, 'subdir' | 'parse'>, file: string | undefined): Promise<RemoteBackup> {
  const backups = await listOffsite(target, set);
  const chosen = file ? backups.find((b) => b.name === file) : backups.at(-1);
  if (!chosen)
    throw new BadInputError(
      file ? `${file} is not a verified backup on ${target.remote}.` : `there is no verified backup on ${target.remote}.`,
      'list them with --list --from-offsite',
    );
  return chosen;
}
