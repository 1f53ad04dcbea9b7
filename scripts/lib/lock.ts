import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { addCleanup } from './cleanup.js';
import { OperationError } from './errors.js';
import type { Shell } from './host-shell.js';

/**
 * One lock for every purpose (deploy, backups), kept as a small JSON file.
 *
 * Taking it and recording the owner is one atomic step: the owner is written
 * to a temp file first, then hard-linked to the lock path (link(2) fails if
 * the path exists), so nobody ever sees a lock without its owner. The steps
 * are POSIX sh scripts run by a Shell, so a lock on a remote host (ssh) is
 * taken by the very same script on that host.
 *
 * A lock whose owner ran on this machine and whose process is gone is taken
 * over: under a short guard file, and only if the lock still holds that dead
 * owner, the new owner is renamed over it (the path is never empty meanwhile,
 * so no third process slips in). A lock of another machine is never judged by
 * a local pid.
 */
export interface LockOwner {
  pid: number;
  /** Kernel start time of the process (Linux), so a reused pid is not taken for the holder. */
  pidStart?: string;
  host: string;
  user: string;
  startedAt: string;
  purpose: string;
  version?: string;
  env?: string;
}

/** alive/dead: a process of this machine; foreign: another machine's (cannot tell); unreadable: no owner JSON. */
export type Verdict = 'alive' | 'dead' | 'foreign' | 'unreadable';

export interface HeldLock {
  owner: LockOwner;
  path: string;
  release(): void;
}

export type TakeResult = { held: HeldLock; recovered?: LockOwner } | { refused: { owner?: LockOwner; verdict: Verdict; raw: string } };

// Exit codes of the scripts: 0 done, 3 held (stdout: the lock's content), 4 try again,
// 5 guard busy (stdout: the guard's content), 6 the lock changed meanwhile.
const TAKE = `lock=$1
mkdir -p -- "$(dirname -- "$lock")" || exit 1
umask 077
tmp=$lock.$$.tmp
cat > "$tmp" || { rm -f -- "$tmp"; exit 1; }
if ln -- "$tmp" "$lock" 2>/dev/null; then rm -f -- "$tmp"; exit 0; fi
rm -f -- "$tmp"
if [ -d "$lock" ]; then echo "$lock is a folder, not a lock file" >&2; exit 1; fi
cat -- "$lock" 2>/dev/null || exit 4
exit 3`;

const TAKE_OVER = `lock=$1 expected=$2 guard=$1.break
umask 077
tmp=$lock.$$.tmp
cat > "$tmp" || { rm -f -- "$tmp"; exit 1; }
if ! ln -- "$tmp" "$guard" 2>/dev/null; then rm -f -- "$tmp"; cat -- "$guard" 2>/dev/null; exit 5; fi
if [ "$(cat -- "$lock" 2>/dev/null)" = "$expected" ]; then mv -f -- "$tmp" "$lock"; status=$?; else rm -f -- "$tmp"; status=6; fi
rm -f -- "$guard"
exit $status`;

/** Removes a file only while it still holds `expected` (our own lock, or the one an operator saw). */
const REMOVE_IF = `if [ "$(cat -- "$1" 2>/dev/null)" = "$2" ]; then rm -f -- "$1"; else exit 6; fi`;

const READ = `[ -f "$1" ] || exit 3
cat -- "$1"`;

export function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}

/** Start time of a live process (Linux /proc), or undefined when there is no such process or no /proc. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) may hold spaces, so count after its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function newOwner(purpose: string, extra: { version?: string; env?: string } = {}): LockOwner {
  const pidStart = processStartTime(process.pid);
  return {
    pid: process.pid,
    ...(pidStart ? { pidStart } : {}),
    host: hostname(),
    user: currentUser(),
    startedAt: new Date().toISOString(),
    purpose,
    ...extra,
  };
}

function processAlive(owner: LockOwner): boolean {
  const start = processStartTime(owner.pid);
  if (start !== undefined) return !owner.pidStart || start === owner.pidStart;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function judge(owner: LockOwner | undefined, here = hostname()): Verdict {
  if (!owner || typeof owner.pid !== 'number' || typeof owner.host !== 'string') return 'unreadable';
  if (owner.host !== here) return 'foreign';
  return processAlive(owner) ? 'alive' : 'dead';
}

export function parseOwner(raw: string): LockOwner | undefined {
  try {
    const value = JSON.parse(raw) as LockOwner;
    return value && typeof value === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function failure(shell: Shell, what: string, result: { status: number; stderr: string }): OperationError {
  const detail = result.stderr.trim().split('\n').pop() ?? '';
  return new OperationError(
    `${what} on ${shell.where} failed (exit ${result.status})${detail ? `: ${detail}` : ''}.`,
    result.status === 255 ? 'check that ssh reaches the host' : undefined,
  );
}

/**
 * Takes the lock at `path` or reports who holds it. A dead local owner is
 * taken over (reported as `recovered`). The lock is released on every exit
 * path, Ctrl-C included (cleanup registry).
 */
export function tryTakeLock(shell: Shell, path: string, owner: LockOwner): TakeResult {
  const content = JSON.stringify(owner);
  let recovered: LockOwner | undefined;
  for (let attempt = 0; attempt < 200; attempt++) {
    const take = shell.run(TAKE, [path], `${content}\n`);
    if (take.status === 0) return { held: holdLock(shell, path, owner, content), ...(recovered ? { recovered } : {}) };
    if (take.status === 4) {
      // Released between our link and our read: try again.
      pause(5);
      continue;
    }
    if (take.status !== 3) throw failure(shell, `taking the lock ${path}`, take);
    const raw = take.stdout.replace(/\n+$/, '');
    const holder = parseOwner(raw);
    const verdict = judge(holder);
    if (verdict !== 'dead') return { refused: { ...(holder ? { owner: holder } : {}), verdict, raw } };
    const over = shell.run(TAKE_OVER, [path, raw], `${content}\n`);
    if (over.status === 0) {
      recovered = holder;
      return { held: holdLock(shell, path, owner, content), ...(recovered ? { recovered } : {}) };
    }
    if (over.status === 5) {
      // Another process is taking over right now; a guard left by a dead one is removed.
      const guardRaw = over.stdout.replace(/\n+$/, '');
      if (judge(parseOwner(guardRaw)) === 'dead') shell.run(REMOVE_IF, [`${path}.break`, guardRaw]);
      pause(20);
      continue;
    }
    if (over.status !== 6) throw failure(shell, `taking over the stale lock ${path}`, over);
  }
  throw new OperationError(`cannot take the lock ${path} on ${shell.where}: it keeps changing.`, 'another run keeps recreating it; try again');
}

function holdLock(shell: Shell, path: string, owner: LockOwner, content: string): HeldLock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    // Only a lock that is still ours (an operator may have forced it open meanwhile).
    shell.run(REMOVE_IF, [path, content]);
  };
  const removeCleanup = addCleanup(release);
  return {
    owner,
    path,
    release() {
      removeCleanup();
      release();
    },
  };
}

/** The current holder, or undefined when the lock is free. `raw` is what removeLockIf needs. */
export function readLock(shell: Shell, path: string): { owner?: LockOwner; verdict: Verdict; raw: string } | undefined {
  const result = shell.run(READ, [path]);
  if (result.status === 3) return undefined;
  if (result.status !== 0) throw failure(shell, `reading the lock ${path}`, result);
  const raw = result.stdout.replace(/\n+$/, '');
  const owner = parseOwner(raw);
  return { ...(owner ? { owner } : {}), verdict: judge(owner), raw };
}

/** Removes the lock only while it still holds what the caller saw (`raw` from readLock). */
export function removeLockIf(shell: Shell, path: string, raw: string): boolean {
  const result = shell.run(REMOVE_IF, [path, raw]);
  if (result.status === 0) return true;
  if (result.status === 6) return false;
  throw failure(shell, `removing the lock ${path}`, result);
}
