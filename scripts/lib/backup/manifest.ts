import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.js';
import { MANIFEST_SUFFIX, type ParsedDumpName, parseDumpName } from './naming.js';

/** Written next to each finished artifact, only after it was verified. */
export interface Manifest {
  name: string;
  database: string;
  /** sha256 of the artifact bytes on disk (what `sha256sum` prints). */
  sha256: string;
  /** sha256 of the pg_dump output before encryption. */
  dumpSha256: string;
  size: number;
  dumpSize: number;
  encrypted: boolean;
  compressionLevel: number;
  pgDumpVersion: string;
  serverVersion: string;
  start: string;
  end: string;
  durationSeconds: number;
  verified: boolean;
  /** Per-table row counts in the dump's snapshot, when --verify-restore ran. */
  rowCounts?: Record<string, number>;
}

export function manifestPath(artifact: string): string {
  return `${artifact}${MANIFEST_SUFFIX}`;
}

export function writeManifest(dir: string, manifest: Manifest): void {
  writeFileAtomic(manifestPath(join(dir, manifest.name)), `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
}

export function readManifest(artifact: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(manifestPath(artifact), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

export interface ArtifactEntry extends ParsedDumpName {
  name: string;
  path: string;
  manifest?: Manifest;
}

/** Finished dumps of `database` in `dir` (any database when omitted), oldest first. */
export function listArtifacts(dir: string, database?: string): ArtifactEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const entries: ArtifactEntry[] = [];
  for (const name of names) {
    const parsed = parseDumpName(name);
    if (!parsed || (database && parsed.database !== database)) continue;
    const path = join(dir, name);
    const manifest = readManifest(path);
    entries.push({ ...parsed, name, path, ...(manifest ? { manifest } : {}) });
  }
  return entries.sort((a, b) => a.time.getTime() - b.time.getTime() || a.name.localeCompare(b.name));
}

export function isVerified(entry: ArtifactEntry): boolean {
  return entry.manifest?.verified === true;
}
