import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from '../../helpers/run.js';
import type { LoadReport } from './loadgen.js';

export type { LoadReport };

export interface LoadOptions {
  url: string;
  ca: string;
  concurrency?: number;
  pauseMs?: number;
}

/** A running load generator (its own process); stop() returns its report. */
export interface Load {
  stop(): Promise<LoadReport>;
  /** Kills it without a report (cleanup after a failure). */
  kill(): void;
}

export function startLoad(options: LoadOptions): Load {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'loadgen.ts'),
      '--url',
      options.url,
      '--ca',
      options.ca,
      '--concurrency',
      String(options.concurrency ?? 4),
      '--pause-ms',
      String(options.pauseMs ?? 10),
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
      if (code !== 0) throw new Error(`load generator exited ${code}: ${stderr}`);
      return JSON.parse(stdout) as LoadReport;
    },
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      child.stdin?.destroy();
    },
  };
}
