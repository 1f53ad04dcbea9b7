import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { MANIFEST, replaceProblem } from '../bundle-folder.js';
import { privateTempDir, type TempDir } from '../cleanup.js';
import { firstDbHost, HOST_ROLES, type Inventory, type InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError } from '../errors.js';
import { checksumsFile, sha256 } from './checksums.js';
import { buildContext } from './context.js';
import { bundleExtras, hostFiltersInOrder } from './derived.js';
import { bundleLayout } from './layout.js';
import { assertRenderedParses, type RenderedFile } from './syntax.js';
import { renderTemplate, type TemplateProblem } from './template.js';

export { MANIFEST } from '../bundle-folder.js';
export const SECRETS_DIR = 'secrets';

export interface BundleFile {
  /** Path inside the bundle, posix. */
  path: string;
  content: string;
  mode: number;
  secret: boolean;
}

export interface Bundle {
  env: LoadedEnv;
  files: BundleFile[];
  /** The inventory host it was rendered for; absent for a whole-stack bundle (Kubernetes, setup-monitoring). */
  host?: InventoryHost;
}

/** One host's bundle and its folder inside dist/<env>. */
export interface HostBundle {
  host: InventoryHost;
  /** '' with one host (the bundle is dist/<env> itself, as always), the host's name with several. */
  folder: string;
  bundle: Bundle;
}

export class RenderError extends BadInputError {
  constructor(readonly problems: TemplateProblem[]) {
    super(problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n'), 'fix the templates above; placeholders are written @@NAME@@');
    this.name = 'RenderError';
  }
}

export function repoRoot(): string {
  return resolve(dirname(new URL(import.meta.url).pathname), '..', '..', '..');
}

/**
 * Renders every template in memory, or only the files `only` accepts (what a
 * command that ships one folder needs), for one host of the inventory: its
 * values (member name, endpoints, TLS folders), and only what the services of
 * its roles use. Without a host, the whole stack with the first db host's
 * values (what Kubernetes and setup-monitoring read). Throws RenderError
 * listing every problem.
 */
export function planBundle(env: LoadedEnv, root = repoRoot(), only: (path: string) => boolean = () => true, host?: InventoryHost): Bundle {
  const valuesHost = host ?? firstDbHost(env.inventory);
  const context = buildContext(env, valuesHost);
  const problems: TemplateProblem[] = [];
  const files: BundleFile[] = [];
  const rendered: RenderedFile[] = [];
  for (const entry of bundleLayout(root, env.name).filter((e) => only(e.target))) {
    const text = readFileSync(join(root, entry.source), 'utf8');
    const result = renderTemplate(entry.source, text, context.values, context.secretNames);
    problems.push(...result.problems);
    files.push({ path: entry.target, content: result.text, mode: entry.executable ? 0o755 : 0o644, secret: false });
    rendered.push({ source: entry.source, target: entry.target, template: text, content: result.text });
  }
  if (problems.length > 0) throw new RenderError(problems);
  assertRenderedParses(rendered, context.values, context.secretNames, env);
  for (const [name, content] of [...context.secretFiles].sort(([a], [b]) => a.localeCompare(b))) {
    const path = posix.join(SECRETS_DIR, name);
    if (only(path)) files.push({ path, content, mode: 0o600, secret: true });
  }
  let kept = files;
  for (const filter of hostFiltersInOrder()) kept = filter(env, host?.roles ?? HOST_ROLES, kept, valuesHost);
  for (const extra of bundleExtras()) kept.push(...extra(env, kept, only, valuesHost).filter((f) => only(f.path)));
  kept.push({ path: MANIFEST, content: manifestFor(env, kept, root, host), mode: 0o644, secret: false });
  kept.push(checksumsFile(kept));
  return { env, files: kept, ...(host ? { host } : {}) };
}

/** Where a host's bundle goes inside dist/<env>: the folder itself with one host, a folder per host with several. */
export function bundleFolder(inventory: Inventory, host: InventoryHost): string {
  return inventory.hosts.length > 1 ? host.name : '';
}

/** One bundle per host of the inventory, each self-contained (its own up.sh, SHA256SUMS, MANIFEST.json). */
export function planHostBundles(env: LoadedEnv, root = repoRoot()): HostBundle[] {
  return env.inventory.hosts.map((host) => ({ host, folder: bundleFolder(env.inventory, host), bundle: planBundle(env, root, undefined, host) }));
}

export function gitCommit(root: string): string {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}

/** The inventory as the manifest records it: which hosts there are, what each runs, how its engine is reached. */
function inventoryRecord(inventory: Inventory): object[] {
  return inventory.hosts.map((h) => ({
    name: h.name,
    roles: h.roles,
    ...(h.address ? { address: h.address } : {}),
    engine: h.engine.kind === 'ssh' ? h.engine.url : 'local',
  }));
}

function manifestFor(env: LoadedEnv, files: BundleFile[], root: string, host: InventoryHost | undefined): string {
  const manifest = {
    env: env.name,
    // The host this bundle is for (up.sh refuses to run it elsewhere) and the inventory it was rendered from.
    ...(host ? { host: host.name, roles: host.roles } : {}),
    inventory: inventoryRecord(env.inventory),
    commit: gitCommit(root),
    // Secrets are listed without a hash: a hash of a weak secret can be brute-forced.
    files: files.map((f) =>
      f.secret ? { path: f.path, mode: modeString(f.mode), secret: true } : { path: f.path, mode: modeString(f.mode), sha256: sha256(f.content) },
    ),
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

function modeString(mode: number): string {
  return `0${mode.toString(8)}`;
}

/** Only a previous bundle is replaced: anything else at `dir` is refused, never deleted (render --out checks it first too). */
export function refuseToReplace(dir: string): void {
  const problem = replaceProblem(dir);
  if (problem)
    throw new BadInputError(`${dir} ${problem}; a render replaces only a bundle it rendered, and deleted nothing.`, 'move it away, or render elsewhere');
}

/** Writes the bundle to `<outRoot>/<env>` atomically (see writeBundles). */
export function writeBundle(bundle: Pick<Bundle, 'env' | 'files'>, outRoot: string): string {
  return writeBundles([{ folder: '', bundle }], outRoot);
}

/**
 * Writes every host's bundle into `<outRoot>/<env>` (each in its folder) in one
 * atomic step: everything is built in a temp folder beside it (a rename needs
 * the same file system), then swapped in. A failure leaves the previous bundles;
 * an interrupted write (even kill -9) leaves no staging folder with its secrets.
 */
export function writeBundles(parts: { folder: string; bundle: Pick<Bundle, 'env' | 'files'> }[], outRoot: string): string {
  const envName = (parts[0] as (typeof parts)[number]).bundle.env.name;
  const finalDir = join(outRoot, envName);
  refuseToReplace(finalDir);
  let temp: TempDir;
  try {
    mkdirSync(outRoot, { recursive: true });
    temp = privateTempDir(`.${envName}.staging-`, outRoot);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new BadInputError(`output folder ${outRoot} is not writable (${code}).`, 'pass a writable folder with --out');
  }
  const staging = temp.path;
  try {
    chmodSync(staging, 0o755);
    for (const { folder, bundle } of parts) writeFiles(join(staging, folder), bundle.files);
    // Renamed into place: the registry's removal of the staging path is a no-op from now on.
    swapDirectory(staging, finalDir);
    return finalDir;
  } catch (error) {
    temp.remove();
    throw error;
  }
}

function writeFiles(dir: string, files: BundleFile[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const file of files) {
    const path = join(dir, file.path);
    mkdirSync(dirname(path), { recursive: true, mode: file.secret ? 0o700 : 0o755 });
    writeFileSync(path, file.content, { mode: file.mode });
    chmodSync(path, file.mode);
  }
  if (files.some((f) => f.secret)) chmodSync(join(dir, SECRETS_DIR), 0o700);
}

/** Every host's files as one list, each path inside its host folder: what dist/<env> holds. */
export function filesOfHosts(parts: Pick<HostBundle, 'folder' | 'bundle'>[]): BundleFile[] {
  return parts.flatMap(({ folder, bundle }) => bundle.files.map((f) => ({ ...f, path: folder ? posix.join(folder, f.path) : f.path })));
}

/**
 * Puts `staging` in place of `finalDir` with two renames. When the second
 * fails, the first is undone, so the previous bundle is back and never lost.
 * `rename` is injectable so a test can make the second rename fail.
 */
export function swapDirectory(staging: string, finalDir: string, rename: (from: string, to: string) => void = renameSync): void {
  const previous = existsSync(finalDir) ? `${staging}.previous` : undefined;
  if (previous) rename(finalDir, previous);
  try {
    rename(staging, finalDir);
  } catch (error) {
    if (previous) rename(previous, finalDir);
    throw error;
  }
  if (previous) rmSync(previous, { recursive: true, force: true });
}

/** Lists every file in a bundle folder, posix paths, sorted. */
export function listBundle(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string): void => {
    for (const name of readdirSync(join(dir, sub)).sort()) {
      const rel = sub ? posix.join(sub, name) : name;
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else out.push(rel);
    }
  };
  walk('');
  return out;
}

export interface Drift {
  path: string;
  change: 'missing' | 'extra' | 'changed';
}

/** Differences between a bundle on disk and what would be rendered now. */
export function bundleDrift(bundle: Pick<Bundle, 'files'>, dir: string): Drift[] {
  if (!existsSync(dir)) return bundle.files.map((f) => ({ path: f.path, change: 'missing' as const }));
  const onDisk = new Set(listBundle(dir));
  const drift: Drift[] = [];
  for (const file of bundle.files) {
    if (!onDisk.has(file.path)) drift.push({ path: file.path, change: 'missing' });
    else if (readFileSync(join(dir, file.path), 'utf8') !== file.content || (statSync(join(dir, file.path)).mode & 0o777) !== file.mode) {
      drift.push({ path: file.path, change: 'changed' });
    }
    onDisk.delete(file.path);
  }
  for (const path of onDisk) drift.push({ path, change: 'extra' });
  return drift.sort((a, b) => a.path.localeCompare(b.path));
}

export function relativeToCwd(path: string): string {
  return relative(process.cwd(), path) || '.';
}
