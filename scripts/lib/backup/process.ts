import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { redact } from '../log.js';

/** A command as data: plans print it, effects spawn it. Secrets never appear in args. */
export interface Command {
  file: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

export interface Captured {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function describeCommand(command: Command): string {
  return redact([command.file, ...command.args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' '));
}

export function spawnCommand(command: Command, options: SpawnOptions = {}): ChildProcess {
  return spawn(command.file, command.args, { env: { ...process.env, ...command.env }, ...options });
}

/** Runs a command to completion, capturing its output; never throws on exit codes. */
export function capture(command: Command, input?: string): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawnCommand(command, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin?.on('error', () => {
      // the command may exit before reading its input; its exit code tells
    });
    child.stdin?.end(input ?? '');
  });
}

/** Resolves with the exit code (or signal) once the child has exited. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

/** Collects a child's stderr (last 64 KiB) for error messages. */
export function collectStderr(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    text = (text + d).slice(-65_536);
  });
  return () => text.trim();
}
