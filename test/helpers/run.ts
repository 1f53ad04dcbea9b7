import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..', '..');
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  /** Run the script from this copy of the repo (see repoCopy) instead of REPO. */
  root?: string;
}

/**
 * `base` then `extra`, where a `--set NAME=value` in `extra` takes the place of
 * the one `base` has for NAME: a script refuses a variable set twice.
 */
export function overriding(base: string[], extra: string[]): string[] {
  const names = new Set(extra.flatMap((word, i) => (extra[i - 1] === '--set' ? [word.split('=')[0]] : [])));
  const kept = base.filter(
    (word, i) => !(word === '--set' && names.has(base[i + 1]?.split('=')[0])) && !(base[i - 1] === '--set' && names.has(word.split('=')[0])),
  );
  return [...kept, ...extra];
}

/** Runs `scripts/<script>` with tsx as a user would, and returns its exit code and output. */
export function runScript(script: string, args: string[], options: RunOptions = {}): ScriptResult {
  const root = options.root ?? REPO;
  const result = spawnSync(TSX, [join(root, 'scripts', script), ...args], {
    cwd: options.cwd ?? root,
    env: { ...process.env, ...options.env },
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
  });
  return { code: result.status ?? (result.signal ? 128 : 1), stdout: result.stdout, stderr: result.stderr };
}

/** runScript without blocking the test process, so a table of cases can run several scripts at once. */
export function runScriptAsync(script: string, args: string[], options: RunOptions = {}): Promise<ScriptResult> {
  const root = options.root ?? REPO;
  return runAsync(TSX, [join(root, 'scripts', script), ...args], { ...options, cwd: options.cwd ?? root });
}

/** Runs a command without blocking the test process; its exit code (128 when killed by a signal) and output. */
export function runAsync(command: string, args: string[], options: Omit<RunOptions, 'root'> = {}): Promise<ScriptResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      timeout: options.timeoutMs ?? 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.on('error', () => {
      // a script that refuses its arguments exits before reading stdin (EPIPE); its exit code tells
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * A copy of the repo's scripts and templates in `dir` (node_modules linked),
 * for tests that must change a template without touching the real repo.
 */
export function repoCopy(dir: string): string {
  for (const part of ['scripts', 'compose', 'nginx', 'monitoring', 'k8s', 'backups', 'package.json', '.env.example', 'tsconfig.json']) {
    if (existsSync(join(REPO, part))) cpSync(join(REPO, part), join(dir, part), { recursive: true });
  }
  mkdirSync(join(dir, 'test'), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}
