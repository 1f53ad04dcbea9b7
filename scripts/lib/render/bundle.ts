import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { MANIFEST, replaceProblem } from '../bundle-folder.js';
import { privateTempDir, type TempDir } from '../cleanup.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError } from '../errors.js';
import { checksumsFile, sha256 } from './checksums.js';
import { buildContext } from './context.js';
import { bundleExtras } from './derived.js';
import { bundleLayout } from './layout.js';
import { assertRenderedParses, type RenderedFile } from './syntax.js';
import { type RenderValue, renderTemplate, type TemplateProblem } from './template.js';

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
 * command that ships one folder needs). `hostValues` replace derived values for
 * one host of the inventory (its member name, endpoints, TLS folders).
 * Throws RenderError listing every problem.
 */
export function planBundle(
  env: LoadedEnv,
  root = repoRoot(),
  only: (path: string) => boolean = () => true,
  hostValues: Record<string, RenderValue> = {},
): Bundle {
  const context = buildContext(env);
  Object.assign(context.values, hostValues);
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
  for (const extra of bundleExtras()) files.push(...extra(env, files, only).filter((f) => only(f.path)));
  files.push({ path: MANIFEST, content: manifestFor(env, files, root), mode: 0o644, secret: false });
  files.push(checksumsFile(files));
  return { env, files };
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

function manifestFor(env: LoadedEnv, files: BundleFile[], root: string): string {
  const manifest = {
    env: env.name,
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

/**
 * Writes the bundle to `<outRoot>/<env>` atomically: everything is built in a
 * temp folder beside it (a rename needs the same file system), then swapped in.
 * A failure leaves the previous bundle; an interrupted write (even kill -9)
 * leaves no staging folder with its secrets.
 */
export function writeBundle(bundle: Bundle, outRoot: string): string {
  const finalDir = join(outRoot, bundle.env.name);
  refuseToReplace(finalDir);
  let temp: TempDir;
  try {
    mkdirSync(outRoot, { recursive: true });
    temp = privateTempDir(`.${bundle.env.name}.staging-`, outRoot);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new BadInputError(`output folder ${outRoot} is not writable (${code}).`, 'pass a writable folder with --out');
  }
  const staging = temp.path;
  try {
    chmodSync(staging, 0o755);
    for (const file of bundle.files) {
      const path = join(staging, file.path);
      mkdirSync(dirname(path), { recursive: true, mode: file.secret ? 0o700 : 0o755 });
      writeFileSync(path, file.content, { mode: file.mode });
      chmodSync(path, file.mode);
    }
    if (bundle.files.some((f) => f.secret)) chmodSync(join(staging, SECRETS_DIR), 0o700);
    // Renamed into place: the registry's removal of the staging path is a no-op from now on.
    swapDirectory(staging, finalDir);
    return finalDir;
  } catch (error) {
    temp.remove();
    throw error;
  }
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
export function bundleDrift(bundle: Bundle, dir: string): Drift[] {
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
