import { readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { ENV_NAMES, type EnvName } from '../env/spec.js';
import { BadInputError } from '../errors.js';

/** Folders whose files are templates for the bundle. */
export const TEMPLATE_ROOTS = ['compose', 'nginx', 'monitoring', 'k8s', 'backups'] as const;

/** Sources that are not part of a bundle (docs, image build files, rule unit tests). */
const EXCLUDED = [/\.md$/, /^compose\/backend\//, /^monitoring\/tests\//];

export interface LayoutEntry {
  /** Path in the repo, posix, relative to the repo root. */
  source: string;
  /** Path in the bundle. */
  target: string;
  executable: boolean;
}

/**
 * Maps template files to bundle paths for one environment:
 * - `compose/` lands at the bundle root (the compose file sits beside its configs);
 * - a `prod/` or `dev/` folder, or a `.prod.`/`.dev.` infix in a file name, marks
 *   a file for that env only; the marker is dropped in the bundle and the marked
 *   file replaces an unmarked one with the same target.
 */
export function bundleLayout(repoRoot: string, env: EnvName): LayoutEntry[] {
  const byTarget = new Map<string, LayoutEntry & { marked: boolean }>();
  for (const root of TEMPLATE_ROOTS) {
    for (const source of walk(repoRoot, root)) {
      if (EXCLUDED.some((re) => re.test(source))) continue;
      const marker = envMarker(source);
      if (marker && marker !== env) continue;
      const target = targetPath(source);
      const executable = (statSync(join(repoRoot, source)).mode & 0o111) !== 0;
      const existing = byTarget.get(target);
      if (existing && existing.marked === Boolean(marker)) {
        throw new BadInputError(`${source} and ${existing.source} both render to ${target}; rename one of them.`);
      }
      if (existing?.marked) continue;
      byTarget.set(target, { source, target, executable, marked: Boolean(marker) });
    }
  }
  return [...byTarget.values()].map(({ source, target, executable }) => ({ source, target, executable })).sort((a, b) => a.target.localeCompare(b.target));
}

function walk(repoRoot: string, dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(repoRoot, dir)).sort();
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const rel = posix.join(dir, name);
    return statSync(join(repoRoot, rel)).isDirectory() ? walk(repoRoot, rel) : [rel];
  });
}

function envMarker(source: string): EnvName | undefined {
  const segments = source.split('/');
  for (const env of ENV_NAMES) {
    if (segments.slice(0, -1).includes(env)) return env;
    if ((segments.at(-1) ?? '').includes(`.${env}.`)) return env;
  }
  return undefined;
}

function targetPath(source: string): string {
  const stripped = source
    .split('/')
    .filter((segment, index, all) => index === all.length - 1 || !(ENV_NAMES as readonly string[]).includes(segment))
    .map((segment) => segment.replace(/\.(dev|prod)\./, '.'))
    .join('/');
  return stripped.startsWith('compose/') ? stripped.slice('compose/'.length) : stripped;
}
