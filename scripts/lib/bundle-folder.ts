/**
 * What makes a folder "a bundle rendered by us": a MANIFEST.json that parses,
 * names an env and lists the files. Read by the --bundle and --out option
 * kinds and by render's swap, so nothing else is ever replaced or deployed.
 * Only node:fs here: the option kinds run before any script body.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

export const MANIFEST = 'MANIFEST.json';
/** Written after the manifest, so not listed in it. */
const CHECKSUMS = 'SHA256SUMS';

export interface BundleManifest {
  env: string;
  files: string[];
}

/** The folder's manifest, or why it is not one of ours. */
export function readManifest(dir: string): BundleManifest | { problem: string } {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST), 'utf8');
  } catch {
    return { problem: `holds no ${MANIFEST}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { problem: `has a ${MANIFEST} that is not valid JSON` };
  }
  const { env, files } = (parsed ?? {}) as { env?: unknown; files?: unknown };
  if (typeof env !== 'string' || !Array.isArray(files) || !files.every((f) => typeof (f as { path?: unknown })?.path === 'string'))
    return { problem: `has a ${MANIFEST} that is not ours (no env and file list)` };
  return { env, files: files.map((f) => (f as { path: string }).path) };
}

function listFiles(dir: string, sub = ''): string[] {
  return readdirSync(join(dir, sub), { withFileTypes: true }).flatMap((entry) => {
    const rel = sub ? posix.join(sub, entry.name) : entry.name;
    return entry.isDirectory() ? listFiles(dir, rel) : [rel];
  });
}

/**
 * Why `dir` must not be replaced by a new render, or undefined when it may:
 * absent, empty, or a bundle of ours holding nothing its manifest does not
 * list (a file put there by hand would be lost with it).
 */
export function replaceProblem(dir: string): string | undefined {
  let isFolder: boolean;
  try {
    isFolder = statSync(dir).isDirectory();
  } catch {
    return undefined;
  }
  if (!isFolder) return 'is a file, not a folder';
  const present = listFiles(dir);
  if (present.length === 0) return undefined;
  const manifest = readManifest(dir);
  if ('problem' in manifest) return `${manifest.problem}, so it is not a bundle rendered by render.ts`;
  const listed = new Set([...manifest.files, MANIFEST, CHECKSUMS]);
  const foreign = present.filter((file) => !listed.has(file)).sort();
  if (foreign.length > 0) return `holds ${foreign[0]}${foreign.length > 1 ? ` and ${foreign.length - 1} more` : ''}, which its ${MANIFEST} does not list`;
  return undefined;
}
