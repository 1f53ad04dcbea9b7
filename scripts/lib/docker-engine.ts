import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { BadInputError, OperationError } from './errors.js';

/**
 * Questions to the Docker engine (docker …, compose ps …), each bounded in time: an engine that
 * accepts a connection and never answers must end a probe, a status or a dry run with a
 * sentence naming it, not hang the script. Long operations (pull, build, up, restore) are not
 * questions and are not bounded here.
 */

/** Seconds one question may take: HEALTHMATE_ENGINE_TIMEOUT, default 30 (a healthy engine answers in well under one). */
export const ENGINE_TIMEOUT_VARIABLE = 'HEALTHMATE_ENGINE_TIMEOUT';
const DEFAULT_ENGINE_TIMEOUT_SECONDS = 30;

export function engineTimeoutSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[ENGINE_TIMEOUT_VARIABLE];
  if (raw === undefined || raw === '') return DEFAULT_ENGINE_TIMEOUT_SECONDS;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 3600)
    throw new BadInputError(`${ENGINE_TIMEOUT_VARIABLE} must be whole seconds from 1 to 3600, not "${raw}".`);
  return Number(raw);
}

/** A URL for a message: the password of user:password@ never shown (up to the last @, so a / or @ in it stays hidden too). */
export function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):.*@/i, '$1:***@');
}

/** The engine the docker CLI talks to, for messages: DOCKER_HOST (without a password) or the local socket. */
export function engineName(dockerHost = process.env.DOCKER_HOST): string {
  return dockerHost ? withoutPassword(dockerHost) : 'the local socket (unix:///var/run/docker.sock)';
}

export interface EngineAnswer {
  code: number;
  stdout: string;
  stderr: string;
}

/** Last non-empty line of a tool's error output, for a one-sentence message. */
export function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .at(-1) ?? ''
  );
}

/** Why an engine question failed, as the end of our sentence: the tool's last line without its own full stop. */
export function failureOf(answer: EngineAnswer): string {
  return lastLine(answer.stderr).replace(/[.?!]+$/, '') || `exit ${answer.code}`;
}

/**
 * Runs one engine question to the end, or throws when it does not end within the engine
 * timeout (the command is killed). Never throws on an exit code: the caller reads it.
 */
export function askEngine(argv: string[]): Promise<EngineAnswer> {
  const seconds = engineTimeoutSeconds();
  const [command, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      // A client stuck in a read may ignore SIGTERM (docker-compose 1.29 does).
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }, seconds * 1000);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT') resolve({ code: 127, stdout: '', stderr: `${command}: not installed (not on PATH)` });
      else reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut)
        reject(
          new OperationError(
            `the Docker engine at ${engineName()} did not answer \`${[basename(command), ...args].join(' ')}\` within ${seconds} s.`,
            `check that it runs and answers (docker version), or fix DOCKER_HOST; a slow remote engine may get more time with ${ENGINE_TIMEOUT_VARIABLE}=<seconds>`,
          ),
        );
      else resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/**
 * Whether a named object (volume, image) exists, asked of the engine. "No" only when the
 * engine itself says there is no such object: an engine that cannot be asked is an error,
 * so a safety check that depends on the answer fails closed.
 */
export async function engineHas(kind: 'volume' | 'image', name: string): Promise<boolean> {
  const answer = await askEngine(['docker', kind, 'inspect', name]);
  if (answer.code === 0) return true;
  if (new RegExp(`no such ${kind}`, 'i').test(answer.stderr)) return false;
  throw new OperationError(
    `could not ask the Docker engine at ${engineName()} whether ${kind} ${name} exists: ${failureOf(answer)}.`,
    'start Docker or fix DOCKER_HOST, then run this again; nothing was changed',
  );
}
