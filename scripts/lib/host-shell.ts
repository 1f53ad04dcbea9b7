import { spawnSync } from 'node:child_process';

/** POSIX shell quoting (commands run as argv arrays; this is for ssh's remote command line and for display). */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function formatCommand(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
}

export interface ShellResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Where small POSIX sh scripts run: this machine, or a host reached by ssh.
 * Locks, the release state and the audit log use it, so the same script does
 * the same atomic step (ln, mv) whichever machine keeps them. Synchronous on
 * purpose: a lock is released from a signal handler, where nothing may wait
 * for the event loop.
 */
export interface Shell {
  /** For messages: "this machine" or user@host. */
  where: string;
  /** Runs `sh -c script sh ...args` with `input` on stdin. */
  run(script: string, args: string[], input?: string): ShellResult;
}

const TIMEOUT_MS = 60_000;

function runArgv(argv: string[], input: string | undefined): ShellResult {
  const [command, ...rest] = argv as [string, ...string[]];
  const result = spawnSync(command, rest, { input: input ?? '', encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  if (result.error) return { status: 255, stdout: '', stderr: result.error.message };
  return { status: result.status ?? 255, stdout: result.stdout, stderr: result.stderr };
}

export function localShell(): Shell {
  return { where: 'this machine', run: (script, args, input) => runArgv(['sh', '-c', script, 'sh', ...args], input) };
}

/** ssh runs the remote command through the login shell: quote it into one POSIX command line. */
export function sshShell(target: string, sshArgs: string[]): Shell {
  return {
    where: target,
    run: (script, args, input) => runArgv(['ssh', ...sshArgs, target, '--', formatCommand(['sh', '-c', script, 'sh', ...args])], input),
  };
}
