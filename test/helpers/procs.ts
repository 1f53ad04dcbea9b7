import { readdirSync, readFileSync } from 'node:fs';

/** One process as /proc shows it. */
export interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  /** The executable's short name (at most 15 characters). */
  comm: string;
  /** R running, S sleeping, T stopped (SIGSTOP), Z zombie, … */
  state: string;
}

function readProc(pid: number): Proc | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
  const close = stat.lastIndexOf(')');
  const [state, ppid, pgid] = stat.slice(close + 2).split(' ');
  return { pid, ppid: Number(ppid), pgid: Number(pgid), comm: stat.slice(stat.indexOf('(') + 1, close), state: state ?? '' };
}

/** Every process on the machine now. */
export function processes(): Proc[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProc(Number(name)))
    .filter((p): p is Proc => p !== undefined);
}

/** The processes of one process group (what a terminal's Ctrl-C reaches). */
export function groupMembers(pgid: number): Proc[] {
  return processes().filter((p) => p.pgid === pgid);
}

/** The command line of a process, arguments joined by spaces ('' once it is gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

export function alive(pid: number): boolean {
  return readProc(pid) !== undefined;
}

/** The temp-folder reaper a script started (scripts/lib/cleanup.ts): the sh whose parent is the script. */
export function reaperOf(pid: number): number | undefined {
  return processes().find((p) => p.ppid === pid && p.comm === 'sh' && commandLine(p.pid).endsWith('healthmate-reaper'))?.pid;
}
