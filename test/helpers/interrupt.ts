import { type ChildProcess, spawn } from 'node:child_process';
import { type Dirent, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { onTestFinished } from 'vitest';
import { WAIT_BUDGET_MS, waitFor } from './net.js';
import { groupMembers, type Proc } from './procs.js';
import { REPO } from './run.js';

/** How an operator starts a script: `npx tsx …`, or the tsx binary itself. Both put tsx's signal relay in front of the script. */
export type Launcher = 'npx' | 'tsx';

export interface Launched {
  /** The launcher's pid, which leads its own process group, as a shell's foreground job does. */
  pgid: number;
  stdout(): string;
  stderr(): string;
  /** How the launcher ended: the signal's name, or the exit code. */
  exit: Promise<NodeJS.Signals | number>;
  /** Sends `signal` to the whole group, as a terminal sends Ctrl-C (SIGINT) to its foreground job. */
  press(signal?: NodeJS.Signals): void;
  /** The group's processes now (the launcher, tsx, the script, the tools it runs). */
  members(): Proc[];
  /** Waits until no process of the group is left (npx returns before its children are gone). */
  gone(): Promise<void>;
}

/**
 * Starts `scripts/<script>` (or the script at an absolute path) as an operator
 * does, in its own process group; the group is killed when the test ends.
 */
export function launch(launcher: Launcher, script: string, args: string[], env: NodeJS.ProcessEnv): Launched {
  const command = launcher === 'npx' ? ['npx', 'tsx'] : [join(REPO, 'node_modules', '.bin', 'tsx')];
  const path = isAbsolute(script) ? script : join(REPO, 'scripts', script);
  const child: ChildProcess = spawn(command[0] as string, [...command.slice(1), path, ...args], {
    cwd: REPO,
    // SHLVL as in an operator's terminal: at 0, a bash whose stdin is a socket (zx runs every command through one)
    // sources ~/.bashrc, which on this machine runs pyenv's rehash; an interrupt there leaves pyenv's lock behind.
    env: { ...process.env, SHLVL: '1', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid as number;
  const output = { stdout: '', stderr: '' };
  for (const stream of ['stdout', 'stderr'] as const)
    child[stream]?.setEncoding('utf8').on('data', (d: string) => {
      output[stream] += d;
    });
  const exit = new Promise<NodeJS.Signals | number>((resolve) => child.once('close', (code, signal) => resolve(signal ?? code ?? -1)));
  onTestFinished(() => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const members = (): Proc[] => groupMembers(pgid);
  return {
    pgid,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    exit,
    press: (signal = 'SIGINT') => process.kill(-pgid, signal),
    members,
    // A timeout names what is left (a stopped tool shows as T), so a hang reads as its cause.
    gone: () =>
      waitFor(`the ${launcher} ${script} process group to end`, () => members().length === 0, WAIT_BUDGET_MS, 50).catch((error) => {
        const left = members().map((p) => `${p.pid} ${p.comm} (${p.state})`);
        throw new Error(`${error}; still running: ${left.join(', ')}`);
      }),
  };
}

/** Our temp folders in `tmp` (tsx keeps its own cache, tsx-0, there too). */
export function ourTempFolders(tmp: string): string[] {
  return readdirSync(tmp).filter((name) => name.startsWith('healthmate-'));
}

/** Every file below `dir` that contains one of `secrets`. */
export function filesHolding(dir: string, secrets: string[]): string[] {
  return filesBelow(dir).filter((name) => {
    let text: string;
    try {
      text = readFileSync(join(dir, name), 'latin1');
    } catch {
      // removed while we looked
      return false;
    }
    return secrets.some((secret) => text.includes(secret));
  });
}

/**
 * Paths of the files below `dir`, relative to it. Tools of the interrupted run
 * (promtool's test storage) remove their folders while the walk goes on: a
 * folder that vanished holds nothing any more.
 */
function filesBelow(dir: string, prefix = ''): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(join(dir, prefix), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const name = join(prefix, entry.name);
    if (entry.isDirectory()) return filesBelow(dir, name);
    return entry.isFile() ? [name] : [];
  });
}
