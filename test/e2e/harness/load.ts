import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from '../../helpers/run.js';
import type { LoadReport } from './loadgen.js';
import type { WriteReport } from './writegen.js';

export type { LoadReport, WriteReport };

export interface LoadOptions {
  url: string;
  ca: string;
  /** The address the client connects to (the URL's name is only SNI and Host); default 127.0.0.1. */
  connect?: string;
  concurrency?: number;
  pauseMs?: number;
}

/** A running generator (its own process); stop() returns its report. */
export interface Generator<Report> {
  stop(): Promise<Report>;
  /** Kills it without a report (cleanup after a failure). */
  kill(): void;
}

export type Load = Generator<LoadReport>;
export type Writes = Generator<WriteReport>;

function startGenerator<Report>(script: string, options: LoadOptions, extra: string[]): Generator<Report> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, script),
      '--url',
      options.url,
      '--ca',
      options.ca,
      ...(options.connect ? ['--connect', options.connect] : []),
      ...(options.concurrency !== undefined ? ['--concurrency', String(options.concurrency)] : []),
      ...(options.pauseMs !== undefined ? ['--pause-ms', String(options.pauseMs)] : []),
      ...extra,
    ],
    // stdin stays open while this process lives: the generator exits when it closes.
    { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      child.stdin?.destroy();
      if (code !== 0) throw new Error(`${script} exited ${code}: ${stderr}`);
      return JSON.parse(stdout) as Report;
    },
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      child.stdin?.destroy();
    },
  };
}

/** GET load (loadgen.ts): 4 keep-alive clients, 10 ms apart, unless told otherwise. */
export function startLoad(options: LoadOptions): Load {
  return startGenerator<LoadReport>('loadgen.ts', { concurrency: 4, pauseMs: 10, ...options }, []);
}

/** Acknowledged writes (writegen.ts): POSTs of marker ids from `firstId` on; 2 clients, 100 ms apart, unless told otherwise. */
export function startWrites(options: LoadOptions & { firstId: number }): Writes {
  return startGenerator<WriteReport>('writegen.ts', options, ['--first-id', String(options.firstId)]);
}
