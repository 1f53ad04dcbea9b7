import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const REPO = resolve(import.meta.dirname, '..', '..');

/** Where the unit run's bundle of scripts/ is (test/script-bundle.ts); unset in e2e, which runs tsx. */
export const SCRIPT_BUNDLE_ENV = 'HEALTHMATE_TEST_SCRIPT_BUNDLE';

/**
 * argv that runs a TypeScript file (or `--eval` code) in one node process, tsx
 * as its loader. runScript uses it outside the unit run's bundle: the tsx CLI
 * would start a second node in front of the script (about 0.15 s more per run), and the
 * tests that press Ctrl-C through `npx tsx` as an operator does use launch()
 * (test/helpers/interrupt.ts). Tests that signal the script need it too: the
 * tsx CLI relays a signal to its child and SIGKILLs a child that has not
 * confirmed it within 30 ms, which a busy machine misses, so the script's own
 * cleanup would not run.
 */
export function nodeWithTsx(...args: string[]): [string, ...string[]] {
  return [process.execPath, '--import', pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, ...args];
}

export interface ScriptResult {
  /** The exit code; for a script killed by a signal, 128 + its number, as a shell reports it. */
  code: number;
  /** The signal that killed the script, when one did. */
  signal?: NodeJS.Signals;
  stdout: string;
  stderr: string;
}

/** How long a script may run before the helpers kill it: long enough for a busy 2-core box. */
export const SCRIPT_TIMEOUT_MS = 300_000;

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Killed after this long (SIGTERM), and the call fails saying so (default SCRIPT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Run the script from this copy of the repo (see repoCopy) instead of REPO. */
  root?: string;
  /** Called with each whole line of stderr as it comes (progress, timed by the caller). */
  onStderrLine?: (line: string) => void;
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

/**
 * argv that runs `<root>/scripts/<script>`: the run's esbuild bundle of it (test/script-bundle.ts)
 * when there is one for this repo, else the TypeScript through tsx.
 */
function scriptArgv(root: string, script: string, args: string[]): [string, ...string[]] {
  const bundle = process.env[SCRIPT_BUNDLE_ENV];
  const bundled = bundle && root === REPO ? join(bundle, script.replace(/\.ts$/, '.mjs')) : undefined;
  return bundled && existsSync(bundled) ? [process.execPath, bundled, ...args] : nodeWithTsx(join(root, 'scripts', script), ...args);
}

/** Runs `scripts/<script>` and returns its exit code and output. */
export function runScript(script: string, args: string[], options: RunOptions = {}): ScriptResult {
  const timeoutMs = options.timeoutMs ?? SCRIPT_TIMEOUT_MS;
  const root = options.root ?? REPO;
  const [node, ...argv] = scriptArgv(root, script, args);
  const result = spawnSync(node, argv, {
    cwd: options.cwd ?? root,
    env: { ...process.env, ...options.env },
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return scriptResult(`scripts/${script}`, result, timeoutMs);
}

/**
 * The outcome of a spawnSync of `what`: exit code and output, the signal when
 * one killed it, and an error when the timeout did (a timeout must read as one,
 * not as a wrong exit code).
 */
export function scriptResult(what: string, result: SpawnSyncReturns<string>, timeoutMs: number): ScriptResult {
  const timedOut = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return settle(what, result.status, result.signal, timedOut, timeoutMs, result.stdout ?? '', result.stderr ?? '');
}

function settle(
  what: string,
  status: number | null,
  signal: NodeJS.Signals | null,
  timedOut: boolean,
  timeoutMs: number,
  stdout: string,
  stderr: string,
): ScriptResult {
  if (timedOut) {
    const tail = stderr.trim().split('\n').slice(-20).join('\n');
    throw new Error(`${what} was killed by ${signal ?? 'SIGTERM'} after the ${timeoutMs / 1000} s timeout; its stderr ended with:\n${tail}`);
  }
  if (signal) return { code: 128 + constants.signals[signal], signal, stdout, stderr };
  return { code: status ?? 1, stdout, stderr };
}

/** runScript without blocking the test process, so a table of cases can run several scripts at once. */
export function runScriptAsync(script: string, args: string[], options: RunOptions = {}): Promise<ScriptResult> {
  const root = options.root ?? REPO;
  const [node, ...argv] = scriptArgv(root, script, args);
  return spawnSettled(`scripts/${script}`, node, argv, { ...options, cwd: options.cwd ?? root });
}

/** Runs a command without blocking the test process; its exit code (128 + the signal's number when one killed it) and output. */
export function runAsync(command: string, args: string[], options: Omit<RunOptions, 'root'> = {}): Promise<ScriptResult> {
  return spawnSettled(command, command, args, options);
}

function spawnSettled(what: string, command: string, args: string[], options: Omit<RunOptions, 'root'>): Promise<ScriptResult> {
  const timeoutMs = options.timeoutMs ?? SCRIPT_TIMEOUT_MS;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    let partial = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (!options.onStderrLine) return;
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onStderrLine(line);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      try {
        resolvePromise(settle(what, code, signal, timedOut, timeoutMs, stdout, stderr));
      } catch (error) {
        reject(error);
      }
    });
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
