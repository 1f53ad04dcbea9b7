import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { localShell, type Shell, sshShell } from '../host-shell.js';
import type { EngineHost } from './host.js';

/**
 * Where the deploy lock, the release state (state.json) and the audit log
 * live: STATE_DIR/deploy on the engine's host. With a local engine that is
 * this machine; with DOCKER_HOST=ssh://… it is that host, reached through
 * the same ssh that copies the releases, so every operator's laptop sees the
 * same lock, the same rollback target and one audit log.
 */
export interface DeployStore {
  shell: Shell;
  /** STATE_DIR/deploy (a path on the engine's host). */
  dir: string;
  /** For messages: the folder, prefixed with user@host when remote. */
  where: string;
}

export function deployStore(host: EngineHost, deployDir: string): DeployStore {
  if (host.kind === 'ssh') return { shell: sshShell(host.target, host.sshArgs), dir: deployDir, where: `${host.target}:${deployDir}` };
  return { shell: localShell(), dir: deployDir, where: deployDir };
}

export function storePath(store: DeployStore, name: string): string {
  return join(store.dir, name);
}

const READ = `[ -f "$1" ] || exit 3
cat -- "$1"`;
const TAIL = `[ -f "$1" ] || exit 3
tail -n "$2" -- "$1"`;
/** Temp file in the same folder, then rename: readers see the old or the new file, never half of one. */
const REPLACE = `mkdir -p -- "$(dirname -- "$1")" || exit 1
umask 022
tmp=$1.$$.tmp
if cat > "$tmp" && mv -f -- "$tmp" "$1"; then exit 0; fi
rm -f -- "$tmp"
exit 1`;
/** O_APPEND: concurrent writers never interleave a line. */
const APPEND = `mkdir -p -- "$(dirname -- "$1")" || exit 1
umask 027
cat >> "$1"`;

function run(store: DeployStore, what: string, script: string, args: string[], input?: string): { status: number; stdout: string } {
  const result = store.shell.run(script, args, input);
  if (result.status === 0 || result.status === 3) return result;
  const detail = result.stderr.trim().split('\n').pop() ?? '';
  throw new OperationError(
    `${what} on ${store.shell.where} failed (exit ${result.status})${detail ? `: ${detail}` : ''}.`,
    result.status === 255 ? 'check that ssh reaches the engine host (DOCKER_HOST)' : undefined,
  );
}

/** A file's text, or undefined when it does not exist. */
export function readStoreFile(store: DeployStore, name: string): string | undefined {
  const result = run(store, `reading ${storePath(store, name)}`, READ, [storePath(store, name)]);
  return result.status === 3 ? undefined : result.stdout;
}

export function tailStoreFile(store: DeployStore, name: string, lines: number): string | undefined {
  const result = run(store, `reading ${storePath(store, name)}`, TAIL, [storePath(store, name), String(lines)]);
  return result.status === 3 ? undefined : result.stdout;
}

export function replaceStoreFile(store: DeployStore, name: string, text: string): void {
  run(store, `writing ${storePath(store, name)}`, REPLACE, [storePath(store, name)], text);
}

export function appendStoreFile(store: DeployStore, name: string, text: string): void {
  run(store, `appending to ${storePath(store, name)}`, APPEND, [storePath(store, name)], text);
}
