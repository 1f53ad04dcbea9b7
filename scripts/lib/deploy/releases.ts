import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readManifest } from '../bundle-folder.js';
import { OperationError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { Shell } from '../host-shell.js';
import { RELEASES_DIR, releasePath } from '../paths.js';
import { listBundle, SECRETS_DIR } from '../render/bundle.js';

export const KEEP_RELEASES = 5;

/**
 * A host's bundle inside a release folder: its own folder when the release was
 * rendered for several hosts, the release itself when for one (or before hosts
 * existed). Undefined when the release has no bundle of that host.
 */
export function hostBundleIn(releaseDir: string, host: string): string | undefined {
  if (readManifestHost(join(releaseDir, host)) === host) return join(releaseDir, host);
  const own = readManifestHost(releaseDir);
  return own === host || own === null ? releaseDir : undefined;
}

/** The host a bundle's MANIFEST.json names; null when it names none (one host, rendered before hosts); undefined when no bundle is there. */
function readManifestHost(dir: string): string | null | undefined {
  const manifest = readManifest(dir);
  if ('problem' in manifest) return undefined;
  return manifest.host ?? null;
}

export function releaseId(tag: string, now = new Date()): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${tag}`;
}

/** Copies a rendered bundle into releases/<id> (modes kept, secrets 0600 in a 0700 folder). */
export function storeRelease(bundleDir: string, deployDir: string, id: string): string {
  const target = releasePath(deployDir, id);
  mkdirSync(join(deployDir, RELEASES_DIR), { recursive: true, mode: 0o700 });
  chmodSync(join(deployDir, RELEASES_DIR), 0o700);
  cpSync(bundleDir, target, { recursive: true, preserveTimestamps: true });
  return target;
}

export interface SyncResult {
  written: string[];
  removed: string[];
}

/**
 * Makes `current` hold exactly the files of a release: changed files are
 * replaced atomically, files the release lacks are removed. Folders are never
 * replaced, so running containers keep seeing them.
 */
export function syncRelease(releaseDir: string, currentDir: string): SyncResult {
  mkdirSync(currentDir, { recursive: true, mode: 0o755 });
  const wanted = listBundle(releaseDir);
  const result: SyncResult = { written: [], removed: [] };
  for (const file of wanted) {
    const source = join(releaseDir, file);
    const target = join(currentDir, file);
    const mode = statSync(source).mode & 0o777;
    const content = readFileSync(source);
    if (existsSync(target) && sameFile(target, content, mode)) continue;
    mkdirSync(dirname(target), { recursive: true, mode: file.startsWith(`${SECRETS_DIR}/`) ? 0o700 : 0o755 });
    writeFileAtomic(target, content, mode);
    chmodSync(target, mode);
    result.written.push(file);
  }
  const keep = new Set(wanted);
  for (const file of existsSync(currentDir) ? listBundle(currentDir) : []) {
    if (keep.has(file)) continue;
    rmSync(join(currentDir, file), { force: true });
    result.removed.push(file);
  }
  if (existsSync(join(currentDir, SECRETS_DIR))) chmodSync(join(currentDir, SECRETS_DIR), 0o700);
  return result;
}

function sameFile(path: string, content: Buffer, mode: number): boolean {
  try {
    return (statSync(path).mode & 0o777) === mode && readFileSync(path).equals(content);
  } catch {
    // A secret chowned to a service's uid is unreadable to us: replace it.
    return false;
  }
}

export function createMountpoints(currentDir: string, paths: string[]): void {
  for (const path of paths) mkdirSync(join(currentDir, path), { recursive: true });
}

const LIST = `[ -d "$1" ] || exit 0
ls -1 -- "$1"`;
// Rename first so a half-deleted release is never mistaken for a whole one.
const REMOVE = `root=$1
shift
for id in "$@"; do
  mv -- "$root/$id" "$root/.$id.deleting" && rm -rf -- "$root/.$id.deleting" || exit 1
done`;

/**
 * Removes all but the newest releases; `keep` names releases that must stay
 * (current, previous). Through a Shell, so the engine host's copies are
 * pruned the same way as this machine's.
 */
export function pruneReleases(shell: Shell, deployDir: string, keep: string[], count = KEEP_RELEASES): string[] {
  const root = join(deployDir, RELEASES_DIR);
  const listed = shell.run(LIST, [root]);
  if (listed.status !== 0) throw new OperationError(`listing ${root} on ${shell.where} failed: ${listed.stderr.trim()}`);
  const all = listed.stdout.split('\n').filter(Boolean).sort();
  const removable = all.slice(0, Math.max(0, all.length - count)).filter((id) => !keep.includes(id));
  if (removable.length === 0) return [];
  const removed = shell.run(REMOVE, [root, ...removable]);
  if (removed.status !== 0) throw new OperationError(`pruning ${root} on ${shell.where} failed: ${removed.stderr.trim()}`);
  return removable;
}
