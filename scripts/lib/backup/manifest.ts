import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { OperationError } from '../errors.js';
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

const SHA256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits'));
const COUNT = v.pipe(v.number(), v.integer(), v.minValue(0));
const TIME = v.pipe(
  v.string(),
  v.check((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 time'),
);

/** What a manifest must hold before anything trusts it (a restore reads size, sha256 and encrypted from it). */
const MANIFEST_SCHEMA = v.object({
  name: v.pipe(v.string(), v.minLength(1)),
  database: v.pipe(v.string(), v.minLength(1)),
  sha256: SHA256,
  dumpSha256: SHA256,
  size: COUNT,
  dumpSize: COUNT,
  encrypted: v.boolean(),
  compressionLevel: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(9)),
  pgDumpVersion: v.string(),
  serverVersion: v.string(),
  start: TIME,
  end: TIME,
  durationSeconds: v.pipe(v.number(), v.minValue(0)),
  verified: v.boolean(),
  rowCounts: v.optional(v.record(v.string(), COUNT)),
}) satisfies v.GenericSchema<Manifest>;

export function manifestPath(artifact: string): string {
  return `${artifact}${MANIFEST_SUFFIX}`;
}

export function writeManifest(dir: string, manifest: Manifest): void {
  writeFileAtomic(manifestPath(join(dir, manifest.name)), `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
}

/** The manifest of `artifact`, undefined when there is none or it is damaged (listing and retention). */
export function readManifest(artifact: string): Manifest | undefined {
  try {
    return loadManifest(artifact);
  } catch {
    return undefined;
  }
}

/**
 * The manifest of `artifact`, checked against the schema; undefined when the
 * file does not exist. A damaged manifest is an OperationError in one sentence.
 */
export function loadManifest(artifact: string): Manifest | undefined {
  const path = manifestPath(artifact);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OperationError(`manifest ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw damaged(path, 'it is not valid JSON');
  }
  const result = v.safeParse(MANIFEST_SCHEMA, data);
  if (!result.success) {
    const issue = result.issues[0];
    const field = v.getDotPath(issue) || 'the top level';
    throw damaged(path, issue.input === undefined ? `${field} is missing` : `${field}: ${issue.message}`);
  }
  return result.output;
}

function damaged(path: string, reason: string): OperationError {
  return new OperationError(
    `manifest ${path} is damaged (${reason.replace(/\.$/, '')}), so its backup cannot be trusted; nothing was restored.`,
    'use another backup (--list), or restore the manifest from a copy',
  );
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
