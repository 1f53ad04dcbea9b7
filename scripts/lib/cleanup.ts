import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { BadInputError } from './errors.js';

/**
 * Cleanup that must run even on Ctrl-C or SIGTERM (locks, partial files,
 * temp dirs). Handlers run last-registered first, once.
 */
type Cleanup = () => void | Promise<void>;
const handlers: Cleanup[] = [];
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;
let interrupted = false;
let draining: Promise<void> | undefined;

export function addCleanup(handler: Cleanup): () => void {
  handlers.push(handler);
  installSignalHandlers();
  return () => {
    const index = handlers.indexOf(handler);
    if (index >= 0) handlers.splice(index, 1);
  };
}

/** Runs every registered cleanup; a call while they run waits for the same run (a signal during runCli's `finally`). */
export function runCleanups(): Promise<void> {
  draining ??= (async () => {
    while (handlers.length > 0) {
      const handler = handlers.pop() as Cleanup;
      try {
        await handler();
      } catch (error) {
        process.stderr.write(`warning: cleanup failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  })().finally(() => {
    draining = undefined;
  });
  return draining;
}

export interface TempDir {
  /** Absolute path of the folder (mode 0700). */
  path: string;
  /** Removes the folder now (it is removed on every exit path anyway). */
  remove(): void;
}

/**
 * Every temp folder the scripts make: 0700, removed by remove(), on every
 * exit path (the end of runCli, an exception, Ctrl-C, SIGTERM, SIGHUP) and,
 * through the reaper, even when the process is killed with SIGKILL (which
 * `npx tsx` sends when a busy script does not answer its Ctrl-C in 60 ms).
 * `parent` defaults to TMPDIR; a folder beside data (a render's staging, a
 * decrypted dump) names its own.
 */
export function privateTempDir(prefix: string, parent = tmpdir()): TempDir {
  const base = resolve(parent);
  if (/[\r\n]/.test(base)) throw new BadInputError(`the temp folder's parent "${base}" contains a line break; set TMPDIR to a plain folder.`);
  // The reaper knows the folder before it exists: a kill -9 just after mkdir (a busy machine may
  // deschedule the process right there) must not leave a folder nobody removes. The random name
  // stands in for mkdtemp's, which would exist before the reaper could be told.
  const reaper = startReaper();
  const path = join(base, `${prefix}${randomBytes(6).toString('hex')}`);
  reaper.write(`+${path}\n`);
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    // Someone else's folder by that name (or no parent): not the reaper's to remove.
    reaper.write(`-${path}\n`);
    throw error;
  }
  const remove = (): void => {
    rmSync(path, { recursive: true, force: true });
    unregister();
    reaper.write(`-${path}\n`);
  };
  const unregister = addCleanup(remove);
  return { path, remove };
}

/**
 * The reaper: a POSIX sh in its own session (so a terminal's Ctrl-C does not
 * reach it), reading `+<folder>` / `-<folder>` lines on a pipe whose other end
 * only this process holds (Node opens it close-on-exec, so the tools we run do
 * not inherit it). However this process ends, the kernel closes that end; at
 * EOF the reaper removes the folders still listed and exits.
 */
const REAPER = `trap '' HUP INT QUIT TERM
set -f
nl='
'
dirs=''
while IFS= read -r line; do
  case $line in
    +/*) dirs="$dirs\${line#+}$nl" ;;
    -/*)
      kept=''
      IFS=$nl
      for dir in $dirs; do [ "$dir" = "\${line#-}" ] || kept="$kept$dir$nl"; done
      unset IFS
      dirs=$kept ;;
  esac
done
IFS=$nl
for dir in $dirs; do rm -rf -- "$dir"; done
`;

let reaperInput: (Writable & { unref?(): void }) | undefined;

/** The reaper's input, started on first use; a write reaches the pipe at once, not at the next tick. */
function startReaper(): Writable {
  if (!reaperInput) {
    const child = spawn('/bin/sh', ['-c', REAPER, 'healthmate-reaper'], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      cwd: '/',
      // Nothing of ours in its environment: it needs rm, nothing else.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    child.on('error', (error) =>
      process.stderr.write(`warning: the temp-folder reaper did not start (${error.message}): a kill -9 would leave temp folders\n`),
    );
    child.unref();
    reaperInput = child.stdin as Writable & { unref?(): void };
    reaperInput.on('error', () => {
      // The reaper is gone (killed by hand): the other exit paths still remove the folders.
    });
    // The pipe must not keep this process alive.
    reaperInput.unref?.();
  }
  return reaperInput;
}

/**
 * What runs when the process ends without runCli's `finally`: an exception
 * thrown in a callback, a promise nobody settles, process.exit. Only the
 * synchronous part of each cleanup can run then, which is what removing a
 * temp folder holding a passfile needs.
 */
function runCleanupsAtExit(): void {
  while (handlers.length > 0) {
    const handler = handlers.pop() as Cleanup;
    try {
      void Promise.resolve(handler()).catch(() => undefined);
    } catch {
      // The process is ending: one failed cleanup must not stop the others.
    }
  }
}

/**
 * The first SIGINT/SIGTERM/SIGHUP runs the cleanups, then the process dies by
 * that signal so callers (cron, CI) see how it ended. Signals that follow (a
 * second Ctrl-C, tsx relaying the first one again) are acknowledged and wait
 * for the same cleanup instead of cutting it short.
 */
function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  process.stderr.write(`\ninterrupted by ${signal}: cleaning up\n`);
  void runCleanups().finally(() => {
    for (const name of SIGNALS) process.removeListener(name, onSignal);
    process.kill(process.pid, signal);
  });
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  process.once('exit', runCleanupsAtExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}
