/**
 * What makes a folder "a bundle rendered by us": a MANIFEST.json that parses,
 * names an env and lists the files. Read by the --bundle and --out option
 * kinds and by render's swap, so nothing else is ever replaced or deployed.
 * Only node:fs here: the option kinds run before any script body.
 */
import { type Dirent, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

export const MANIFEST = 'MANIFEST.json';
/** Written after the manifest, so not listed in it. */
const CHECKSUMS = 'SHA256SUMS';

export interface BundleManifest {
  env: string;
  files: string[];
  /** The inventory host it was rendered for (absent in a whole-stack bundle, and in bundles rendered before hosts existed). */
  host?: string;
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
  const { env, files, host } = (parsed ?? {}) as { env?: unknown; files?: unknown; host?: unknown };
  if (typeof env !== 'string' || !Array.isArray(files) || !files.every((f) => typeof (f as { path?: unknown })?.path === 'string'))
    return { problem: `has a ${MANIFEST} that is not ours (no env and file list)` };
  return { env, files: files.map((f) => (f as { path: string }).path), ...(typeof host === 'string' ? { host } : {}) };
}

/** A host as a bundle's manifest records it (its inventory entry). */
export interface ManifestHost {
  name: string;
  roles: string[];
  address?: string;
}

/** The host a bundle was rendered for, with its roles and address, from its manifest; undefined for a whole-stack bundle. */
export function manifestHost(dir: string): ManifestHost | undefined {
  let parsed: { host?: unknown; inventory?: unknown };
  try {
    parsed = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) ?? {};
  } catch {
    return undefined;
  }
  const entries = Array.isArray(parsed.inventory) ? (parsed.inventory as Partial<ManifestHost>[]) : [];
  const entry = entries.find((h) => h?.name === parsed.host);
  if (!entry || !Array.isArray(entry.roles)) return undefined;
  return { name: entry.name as string, roles: entry.roles.map(String), ...(typeof entry.address === 'string' ? { address: entry.address } : {}) };
}

/**
 * The host folders of a dist/<env> rendered for several hosts: no manifest of
 * its own, and sub folders of which at least one holds a manifest naming its
 * host. Undefined for anything else (a bundle, an empty or foreign folder).
 */
export function hostBundleFolders(dir: string): string[] | undefined {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  if (entries.some((e) => e.name === MANIFEST)) return undefined;
  const folders = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  const named = (name: string): boolean => {
    const manifest = readManifest(join(dir, name));
    return !('problem' in manifest) && manifest.host === name;
  };
  return folders.some(named) ? folders.sort() : undefined;
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
  const hosts = hostBundleFolders(dir);
  if (hosts) {
    // Several hosts' bundles: each folder must be one of ours, and nothing may lie beside them.
    const loose = readdirSync(dir, { withFileTypes: true }).find((e) => !e.isDirectory());
    if (loose) return `holds ${loose.name} beside its host bundles, which no render wrote`;
    for (const host of hosts) {
      const problem = replaceProblem(join(dir, host));
      if (problem) return `holds ${host}/, which ${problem}`;
    }
    return undefined;
  }
  const manifest = readManifest(dir);
  if ('problem' in manifest) return `${manifest.problem}, so it is not a bundle rendered by render.ts`;
  const listed = new Set([...manifest.files, MANIFEST, CHECKSUMS]);
  const foreign = present.filter((file) => !listed.has(file)).sort();
  if (foreign.length > 0) return `holds ${foreign[0]}${foreign.length > 1 ? ` and ${foreign.length - 1} more` : ''}, which its ${MANIFEST} does not list`;
  return undefined;
}
