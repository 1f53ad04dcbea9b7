import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { log } from './log.js';

/**
 * Remembered passes of deterministic checks (`promtool test rules`, render's
 * YAML parse): a check whose tool or library, arguments and inputs are byte for
 * byte those of an earlier pass is not repeated. Only passes are kept; a
 * failure always runs again. HEALTHMATE_CHECK_CACHE names the folder, or `off`
 * turns this off.
 */

/** A pass not seen again for this long is forgotten. */
const KEEP_MS = 30 * 24 * 3_600_000;

export function toolCacheDir(): string | undefined {
  const setting = process.env.HEALTHMATE_CHECK_CACHE;
  if (setting === 'off') return undefined;
  if (setting) return setting;
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? join(homedir(), '.cache') : undefined);
  return base ? join(base, 'healthmate-deploy', 'tool-passes') : undefined;
}

/**
 * The identity of a check: the program or library file that does it (real
 * path, inode, size, mtime), what it is asked to do, and each named input.
 */
export function passKey(program: string, action: string, inputs: [name: string, content: string | Buffer][]): string {
  const file = realpathSync(program);
  const stat = statSync(file);
  const hash = createHash('sha256').update(`v1\0${file}\0${stat.ino}\0${stat.size}\0${stat.mtimeMs}\0${action}\0`);
  for (const [name, content] of [...inputs].sort(([a], [b]) => a.localeCompare(b)))
    hash.update(`${name}\0${createHash('sha256').update(content).digest('hex')}\0`);
  return hash.digest('hex');
}

/** Whether this exact run passed before; a hit counts as a use (its date is renewed). */
export function passedBefore(dir: string, key: string): boolean {
  const entry = join(dir, key);
  if (!existsSync(entry)) return false;
  try {
    const now = new Date();
    utimesSync(entry, now, now);
  } catch {
    // read-only cache: the hit still counts
  }
  return true;
}

/** Records a pass; a cache that cannot be written only costs a rerun next time. */
export function recordPass(dir: string, key: string, label: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = join(dir, `.${key}.${randomBytes(4).toString('hex')}.tmp`);
    writeFileSync(temp, `${label}\npassed ${new Date().toISOString()}\n`, { mode: 0o600 });
    renameSync(temp, join(dir, key));
    forgetOld(dir);
  } catch (error) {
    log.debug(`tool cache ${dir} not written: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function forgetOld(dir: string): void {
  const cutoff = Date.now() - KEEP_MS;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if ((statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Number.POSITIVE_INFINITY) < cutoff) rmSync(path, { force: true });
  }
}
